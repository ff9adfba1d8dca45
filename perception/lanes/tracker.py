"""Lane lines tracked over frames in the road frame: one Kalman filter per line on its polynomial coefficients.

State per track (road frame, metres; see :mod:`perception.lanes.model`): ``(c0, c1, c2, v)`` with
``y(x) = c0 + c1 x + c2 x^2`` and ``v = dc0/dt`` (m/s, the line's lateral speed relative to the car, which
carries a drift or a lane change through a frame or two of dropout). Process model: c0 integrates v, v is a
random walk (white lateral acceleration), c1 and c2 are random walks. Measurements are the finders'
per-frame fits (their covariance inflated, since neighbouring window residuals are correlated).

Per frame:
1. predict every track to the frame's time;
2. associate observations to tracks (Hungarian) by the mean lateral distance of the two curves over the
   near range, gated;
3. update matched tracks; unmatched observations start tentative tracks; a tentative track is confirmed
   after ``confirm_hits`` hits in a row and dropped at its first miss; a confirmed track that is not seen is
   held (predicted, reported with falling confidence) for ``hold_s`` and then dropped;
4. merge confirmed tracks that have become the same line (the younger goes);
5. sides: each track keeps the side of the car it is on (left/right of x = 0 at the camera) until it has
   crossed under the car by more than ``side_hysteresis_m``; such a crossing of a confirmed line is a
   lane change (a line passing from left to right means the car moved left).
Track ids are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
# scipy.optimize takes ~0.5 s to import: here, so that start-up pays it rather than the first frame
from scipy.optimize import linear_sum_assignment

from perception.lanes.model import LineObservation, poly_y
from perception.lanes.sides import assign_sides

__all__ = ["TrackerConfig", "LaneTrack", "LaneTracker", "TrackerOutput"]


@dataclass(frozen=True)
class TrackerConfig:
    assoc_range_m: tuple[float, float] = (5.0, 20.0)  # forward range (metres) over which curves are compared
    gate_m: float = 0.8  # largest mean lateral distance (metres) of an observation from a track it may update
    merge_m: float = 0.5  # two confirmed tracks closer than this (mean over assoc_range_m) are merged
    confirm_hits: int = 3  # hits in a row before a track is reported
    hold_s: float = 0.8  # a confirmed track unseen for longer than this is dropped
    accel_std: float = 1.0  # lateral acceleration noise, m/s^2 (drives v and c0)
    c1_rate_std: float = 0.03  # random walk of the heading, rad / sqrt(s)
    c2_rate_std: float = 2e-4  # random walk of the half curvature, 1/m / sqrt(s)
    init_v_std: float = 0.5  # initial uncertainty of the lateral speed, m/s
    meas_inflate: float = 4.0  # multiply the finders' covariances by this (correlated residuals)
    meas_floor: tuple[float, float, float] = (0.03, 0.004, 5e-5)  # smallest measurement std of c0, c1, c2
    side_hysteresis_m: float = 0.25  # a line changes side only once this far past x = 0 on the other side
    default_dt_s: float = 0.04  # time step when the frame times do not say (first frame, equal timestamps)


@dataclass
class LaneTrack:
    """One tracked line. ``state`` float64[4] = (c0, c1, c2, v); ``cov`` float64[4, 4]."""

    id: int
    state: np.ndarray
    cov: np.ndarray
    hits: int = 1  # frames with an observation
    hits_in_row: int = 1
    confirmed: bool = False
    last_seen_s: float = 0.0
    age_frames: int = 1
    side_sign: int = 1  # +1 left of the car, -1 right (sticky, see the module docstring)
    x_near_m: float = 0.0  # smoothed forward range the line is seen over
    x_far_m: float = 0.0
    support: float = 0.0  # smoothed finder support, 0..1

    @property
    def coef(self) -> np.ndarray:
        """(c0, c1, c2) of the current estimate."""
        return self.state[:3]

    def y_at(self, x_m: np.ndarray | float) -> np.ndarray:
        return poly_y(self.state, x_m)


@dataclass
class TrackerOutput:
    """What one update says: the tracks to report (confirmed, held or seen), their sides, and events."""

    tracks: list[LaneTrack]
    sides: list[str | None]
    held: list[bool]  # True for tracks not seen in this frame (predicted only)
    lane_change: str | None  # "left", "right" or None for this frame


@dataclass
class LaneTracker:
    config: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: list[LaneTrack] = field(default_factory=list)
    next_id: int = 0
    t_last_s: float | None = None
    lane_changes: list[tuple[float, str]] = field(default_factory=list)  # (time, direction) of every event

    # -------------------------------------------------------------------------------------------------------
    def predicted_coefs(self) -> list[np.ndarray]:
        """(c0, c1, c2) of the confirmed tracks as of the last update."""
        return [t.coef.copy() for t in self.tracks if t.confirmed]

    def update(self, observations: list[LineObservation], t_s: float) -> TrackerOutput:
        """Advance to time ``t_s`` (seconds) with this frame's observations (road frame)."""
        cfg = self.config
        dt = cfg.default_dt_s if self.t_last_s is None or t_s <= self.t_last_s else t_s - self.t_last_s
        self.t_last_s = t_s
        for track in self.tracks:
            self._predict(track, dt)
            track.age_frames += 1
        matches, unmatched_obs = self._associate(observations)
        seen = set()
        for ti, oi in matches:
            track, obs = self.tracks[ti], observations[oi]
            self._update(track, obs)
            track.hits += 1
            track.hits_in_row += 1
            track.last_seen_s = t_s
            track.confirmed = track.confirmed or track.hits_in_row >= cfg.confirm_hits
            seen.add(track.id)
        kept = []
        for track in self.tracks:
            if track.id not in seen:
                track.hits_in_row = 0
                if not track.confirmed or t_s - track.last_seen_s > cfg.hold_s:
                    continue  # tentative tracks die at their first miss; confirmed ones after hold_s
            kept.append(track)
        self.tracks = kept
        for oi in unmatched_obs:
            self.tracks.append(self._new_track(observations[oi], t_s))
            seen.add(self.tracks[-1].id)
        self._merge()
        lane_change = self._update_sides(t_s)
        report = [t for t in self.tracks if t.confirmed]
        sides = assign_sides([float(t.state[0]) for t in report], sticky_sign=[t.side_sign for t in report])
        return TrackerOutput(tracks=report, sides=sides, held=[t.id not in seen for t in report],
                             lane_change=lane_change)

    # -------------------------------------------------------------------------------------------------------
    def _predict(self, track: LaneTrack, dt: float) -> None:
        cfg = self.config
        F = np.eye(4)  # noqa: N806
        F[0, 3] = dt
        q = cfg.accel_std ** 2
        Q = np.zeros((4, 4))  # noqa: N806, white lateral acceleration on (c0, v); random walks on c1, c2
        Q[0, 0], Q[0, 3], Q[3, 0], Q[3, 3] = q * dt ** 3 / 3, q * dt ** 2 / 2, q * dt ** 2 / 2, q * dt
        Q[1, 1] = cfg.c1_rate_std ** 2 * dt
        Q[2, 2] = cfg.c2_rate_std ** 2 * dt
        track.state = F @ track.state
        track.cov = F @ track.cov @ F.T + Q

    def _meas_cov(self, obs: LineObservation) -> np.ndarray:
        cfg = self.config
        return obs.cov * cfg.meas_inflate + np.diag(np.square(cfg.meas_floor))

    def _update(self, track: LaneTrack, obs: LineObservation) -> None:
        H = np.zeros((3, 4))  # noqa: N806, measures (c0, c1, c2)
        H[:, :3] = np.eye(3)
        S = H @ track.cov @ H.T + self._meas_cov(obs)  # noqa: N806
        K = track.cov @ H.T @ np.linalg.inv(S)  # noqa: N806, (4, 3)
        track.state = track.state + K @ (obs.coef - H @ track.state)
        track.cov = (np.eye(4) - K @ H) @ track.cov
        a = 0.3  # smoothing of the display range and support
        track.x_near_m = (1 - a) * track.x_near_m + a * obs.x_near_m
        track.x_far_m = (1 - a) * track.x_far_m + a * obs.x_far_m
        track.support = (1 - a) * track.support + a * obs.support

    def _new_track(self, obs: LineObservation, t_s: float) -> LaneTrack:
        cov = np.zeros((4, 4))
        cov[:3, :3] = self._meas_cov(obs)
        cov[3, 3] = self.config.init_v_std ** 2
        track = LaneTrack(id=self.next_id, state=np.concatenate([obs.coef, [0.0]]), cov=cov, last_seen_s=t_s,
                          side_sign=1 if obs.coef[0] > 0 else -1, x_near_m=obs.x_near_m, x_far_m=obs.x_far_m,
                          support=obs.support, confirmed=self.config.confirm_hits <= 1)
        self.next_id += 1
        return track

    def _distance(self, coef_a: np.ndarray, coef_b: np.ndarray) -> float:
        x = np.linspace(*self.config.assoc_range_m, 7)
        return float(np.mean(np.abs(poly_y(coef_a, x) - poly_y(coef_b, x))))

    def _associate(self, observations: list[LineObservation]) -> tuple[list[tuple[int, int]], list[int]]:
        if not self.tracks or not observations:
            return [], list(range(len(observations)))
        x = np.linspace(*self.config.assoc_range_m, 7)
        y_tracks = np.array([poly_y(t.state, x) for t in self.tracks])  # (T, 7) lateral metres
        y_obs = np.array([poly_y(o.coef, x) for o in observations])  # (O, 7)
        cost = np.abs(y_tracks[:, None, :] - y_obs[None, :, :]).mean(axis=2)  # (T, O): _distance of each pair
        big = 1e6
        rows, cols = linear_sum_assignment(np.where(cost <= self.config.gate_m, cost, big))
        matches = [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= self.config.gate_m]
        matched_obs = {c for _, c in matches}
        return matches, [i for i in range(len(observations)) if i not in matched_obs]

    def _merge(self) -> None:
        confirmed = sorted((t for t in self.tracks if t.confirmed), key=lambda t: (-t.hits, t.id))
        drop = set()
        for i, a in enumerate(confirmed):
            if a.id in drop:
                continue
            for b in confirmed[i + 1:]:
                if b.id not in drop and self._distance(a.state, b.state) < self.config.merge_m:
                    drop.add(b.id)
        self.tracks = [t for t in self.tracks if t.id not in drop]

    def _update_sides(self, t_s: float) -> str | None:
        h = self.config.side_hysteresis_m
        event = None
        for track in self.tracks:
            c0 = float(track.state[0])
            new_sign = track.side_sign
            if track.side_sign > 0 and c0 < -h:
                new_sign = -1
            elif track.side_sign < 0 and c0 > h:
                new_sign = 1
            if new_sign != track.side_sign:
                if track.confirmed:
                    # A line that moved from the car's left to its right: the car crossed it to the left.
                    event = "left" if new_sign < 0 else "right"
                track.side_sign = new_sign
        if event is not None:
            self.lane_changes.append((t_s, event))
        return event
