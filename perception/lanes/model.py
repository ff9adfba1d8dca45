"""The lane-line model shared by the finders and the tracker: y_lateral(x_forward) = c0 + c1 x + c2 x^2.

Everything here is in the road frame (x forward, y left, metres; origin on the road below the camera):
``c0`` is the line's lateral position at x = 0 (metres, left positive), ``c1`` its heading (dy/dx, radians for
small angles, positive = turning left), ``c2`` half its curvature (1/m; curvature 2 c2 at x = 0 for small c1,
positive = bending left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LineObservation", "FitPrior", "fit_line", "poly_y", "curvature_1pm"]


@dataclass(frozen=True)
class LineObservation:
    """One lane line seen in one frame.

    coef: float64[3] (c0, c1, c2), see the module docstring.
    cov: float64[3, 3] covariance of ``coef`` (m, rad, 1/m units).
    x_near_m, x_far_m: forward range (metres) the line was seen over.
    support: 0..1, how much of that range had marking evidence (a finder's own confidence).
    """

    coef: np.ndarray
    cov: np.ndarray
    x_near_m: float
    x_far_m: float
    support: float

    def y_at(self, x_m: np.ndarray | float) -> np.ndarray:
        """Lateral position (metres, left positive) at forward distance(s) ``x_m``."""
        return poly_y(self.coef, x_m)


@dataclass(frozen=True)
class FitPrior:
    """Gaussian priors that keep short or noisy fits sane (zero mean; one standard deviation each)."""

    c1_std: float = 0.15  # heading relative to the camera, rad (about 9 degrees)
    c2_std: float = 1.0 / 600.0  # half curvature, 1/m: radii below ~300 m are rare on roads where lanes are seen
    min_point_std_m: float = 0.04  # floor on the per-point lateral noise used for the covariance


def poly_y(coef: np.ndarray, x_m: np.ndarray | float) -> np.ndarray:
    """y = c0 + c1 x + c2 x^2 for ``coef`` (3,) at ``x_m`` (metres)."""
    x = np.asarray(x_m, np.float64)
    return coef[0] + coef[1] * x + coef[2] * x * x


def curvature_1pm(coef: np.ndarray, x_m: float = 0.0) -> float:
    """Signed curvature (1/m, positive = bending left) of the line at forward distance ``x_m``."""
    slope = coef[1] + 2.0 * coef[2] * x_m
    return float(2.0 * coef[2] / (1.0 + slope * slope) ** 1.5)


def fit_line(x_m: np.ndarray, y_m: np.ndarray, weights: np.ndarray | None = None,
             prior: FitPrior = FitPrior(), prior_mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of y = c0 + c1 x + c2 x^2 with Gaussian priors on c1 and c2.

    Args:
        x_m, y_m: float[N] road points (metres); N >= 2.
        weights: float[N] relative weights (e.g. marking pixels behind each point); default 1.
        prior_mean: float[3] prior centre (only c1 and c2 are used); default zeros.
    Returns:
        (coef float64[3], cov float64[3, 3]). The covariance scales the normal matrix by the weighted residual
        variance (floored by ``prior.min_point_std_m``), with the weights normalised to sum to N.
    """
    x = np.asarray(x_m, np.float64)
    y = np.asarray(y_m, np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64)
    w = w * (len(w) / max(w.sum(), 1e-12))  # normalise: sum(w) = N
    A = np.column_stack([np.ones_like(x), x, x * x])  # noqa: N806, (N, 3) design matrix
    mean = np.zeros(3) if prior_mean is None else np.asarray(prior_mean, np.float64)
    normal = A.T @ (A * w[:, None])  # (3, 3), A^T W A
    rhs = A.T @ (w * y)  # (3,)
    prior_info = np.diag([0.0, prior.c1_std ** -2, prior.c2_std ** -2])  # (3, 3) inverse prior covariance
    sigma2 = prior.min_point_std_m ** 2
    for _ in range(2):  # the prior's weight depends on the point noise: estimate it, then refit once
        info = normal / sigma2 + prior_info  # posterior information
        coef = np.linalg.solve(info, rhs / sigma2 + prior_info @ mean)
        resid = y - A @ coef
        sigma2 = max(float(np.sum(w * resid * resid)) / max(len(x) - 3, 1), prior.min_point_std_m ** 2)
    cov = np.linalg.inv(normal / sigma2 + prior_info)
    return coef, cov
