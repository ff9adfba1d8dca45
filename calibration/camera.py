"""The pinhole camera model with OpenCV distortion and a mounting on a flat road.

Conventions (pixels, camera frame, road frame, angles) are written once in ``calibration/__init__.py``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from calibration.errors import CalibrationError

__all__ = ["CameraModel", "default_camera", "DEFAULT_HFOV_DEG", "MAX_ASPECT_CHANGE", "VALID_DIST_LENGTHS"]

# Number of distortion coefficients OpenCV understands: k1 k2 p1 p2 [k3 [k4 k5 k6 [s1 s2 s3 s4 [tx ty]]]].
VALID_DIST_LENGTHS = (0, 4, 5, 8, 12, 14)

# Horizontal field of view of :func:`default_camera`, degrees: a typical dashcam / front camera.
DEFAULT_HFOV_DEG = 60.0

# Largest relative difference of aspect ratio (width / height) for which a camera is scaled to another image size
# by :meth:`CameraModel.scaled_to_image`: a resolution of the same sensor mode, not a crop.
MAX_ASPECT_CHANGE = 0.01


def _finite_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CalibrationError(f"camera model: {name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise CalibrationError(f"camera model: {name} must be finite, got {out}")
    return out


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise CalibrationError(f"camera model: {name} must be an integer, got {value!r}")
    if int(value) <= 0:
        raise CalibrationError(f"camera model: {name} must be > 0, got {int(value)}")
    return int(value)


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics, distortion, image size and (optionally) the mounting of one camera.

    Pixel coordinates follow OpenCV: u right, v down, the centre of pixel (i, j) at (u, v) = (i, j).
    The mounting (``height_m`` and the three angles) places the camera above a flat road; without
    ``height_m`` no metric road geometry is possible (``mounting_known`` is False).

    Fields are normalised on construction: numbers become ``int``/``float``, ``dist_coeffs`` a tuple of
    floats, and an all-zero ``dist_coeffs`` becomes ``()`` (both mean "no distortion"; one spelling keeps
    equality and file round trips exact). Invalid values raise :class:`CalibrationError`.
    """

    width_px: int  # image width the intrinsics refer to, pixels
    height_px: int  # image height, pixels
    fx: float  # focal length along u, pixels
    fy: float  # focal length along v, pixels
    cx: float  # principal point u, pixels (pixel-centre convention: (width_px - 1) / 2 is the centre)
    cy: float  # principal point v, pixels
    dist_coeffs: tuple[float, ...] = ()  # OpenCV order k1 k2 p1 p2 [k3 ...]; () = no distortion
    height_m: float | None = None  # camera centre above the road, metres; None = mounting unknown
    pitch_rad: float = 0.0  # positive = looking down
    yaw_rad: float = 0.0  # positive = turned left
    roll_rad: float = 0.0  # positive = clockwise seen from behind
    name: str = ""  # free text, e.g. where the calibration came from

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise through the back door, once, here
        put(self, "width_px", _positive_int("width_px", self.width_px))
        put(self, "height_px", _positive_int("height_px", self.height_px))
        for key in ("fx", "fy", "cx", "cy", "pitch_rad", "yaw_rad", "roll_rad"):
            put(self, key, _finite_float(key, getattr(self, key)))
        for key in ("fx", "fy"):
            if getattr(self, key) <= 0.0:
                raise CalibrationError(f"camera model: {key} must be > 0, got {getattr(self, key)}")
        if abs(self.pitch_rad) >= math.pi / 2 or abs(self.roll_rad) > math.pi or abs(self.yaw_rad) > math.pi:
            raise CalibrationError(
                "camera model: angles out of range (need |pitch| < pi/2, |yaw| <= pi, |roll| <= pi), got "
                f"pitch={self.pitch_rad}, yaw={self.yaw_rad}, roll={self.roll_rad}"
            )
        if self.height_m is not None:
            put(self, "height_m", _finite_float("height_m", self.height_m))
            if self.height_m <= 0.0:
                raise CalibrationError(f"camera model: height_m must be > 0 (or None), got {self.height_m}")
        raw = self.dist_coeffs
        if isinstance(raw, np.ndarray):
            raw = raw.reshape(-1).tolist()
        if isinstance(raw, (str, bytes)) or not hasattr(raw, "__len__"):
            raise CalibrationError(f"camera model: dist_coeffs must be a sequence of numbers, got {raw!r}")
        dist = tuple(_finite_float(f"dist_coeffs[{i}]", c) for i, c in enumerate(raw))
        if len(dist) not in VALID_DIST_LENGTHS:
            raise CalibrationError(
                f"camera model: dist_coeffs must have one of {VALID_DIST_LENGTHS} entries, got {len(dist)}"
            )
        if all(c == 0.0 for c in dist):
            dist = ()
        put(self, "dist_coeffs", dist)
        if not isinstance(self.name, str):
            raise CalibrationError(f"camera model: name must be a string, got {self.name!r}")

    # ----------------------------------------------------------------------------------------------
    @property
    def K(self) -> np.ndarray:  # noqa: N802 (the standard name)
        """Camera matrix, float64[3, 3]: pixel ~ K @ (x, y, z) for a camera-frame point. A new array each call."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dist(self) -> np.ndarray:
        """Distortion coefficients as OpenCV wants them, float64[N] (N = 0 means no distortion)."""
        return np.array(self.dist_coeffs, dtype=np.float64)

    @property
    def image_size_wh(self) -> tuple[int, int]:
        """``(width_px, height_px)``, the order OpenCV's ``imageSize`` / ``dsize`` arguments use."""
        return (self.width_px, self.height_px)

    @property
    def has_distortion(self) -> bool:
        return len(self.dist_coeffs) > 0

    @property
    def mounting_known(self) -> bool:
        """True when ``height_m`` is set, i.e. metric road geometry is possible."""
        return self.height_m is not None

    @property
    def hfov_rad(self) -> float:
        """Horizontal field of view of the undistorted pinhole, radians."""
        left = (self.cx + 0.5) / self.fx
        right = (self.width_px - 0.5 - self.cx) / self.fx
        return math.atan(left) + math.atan(right)

    # ----------------------------------------------------------------------------------------------
    def with_mounting(
        self,
        *,
        height_m: float | None = None,
        pitch_rad: float | None = None,
        yaw_rad: float | None = None,
        roll_rad: float | None = None,
    ) -> "CameraModel":
        """A copy with the given mounting values replaced (``None`` keeps the current value)."""
        changes = {
            key: value
            for key, value in (
                ("height_m", height_m),
                ("pitch_rad", pitch_rad),
                ("yaw_rad", yaw_rad),
                ("roll_rad", roll_rad),
            )
            if value is not None
        }
        return dataclasses.replace(self, **changes)

    def scaled_to(self, width_px: int, height_px: int) -> "CameraModel":
        """The same camera for the image resized (``cv2.resize``) to ``width_px`` x ``height_px``.

        With pixel centres at integer coordinates, resizing maps u to ``(u + 0.5) * s - 0.5``, so the
        principal point moves by that rule and the focal lengths scale by ``s``. Distortion (defined on
        normalised coordinates) and mounting are unchanged.
        """
        sx = _positive_int("width_px", width_px) / self.width_px
        sy = _positive_int("height_px", height_px) / self.height_px
        return dataclasses.replace(
            self,
            width_px=int(width_px),
            height_px=int(height_px),
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    def scaled_to_image(self, width_px: int, height_px: int) -> "CameraModel":
        """:meth:`scaled_to` an image of ``width_px`` x ``height_px`` of the same aspect ratio (within
        ``MAX_ASPECT_CHANGE``); CalibrationError for another aspect ratio (a crop or another camera mode, whose
        intrinsics cannot be derived from these)."""
        aspect_self, aspect_image = self.width_px / self.height_px, width_px / height_px
        if abs(aspect_self / aspect_image - 1.0) > MAX_ASPECT_CHANGE:
            raise CalibrationError(
                f"camera is {self.width_px}x{self.height_px} but the image is {width_px}x{height_px} (different "
                f"aspect ratio: not the same camera mode)")
        return self if self.image_size_wh == (width_px, height_px) else self.scaled_to(width_px, height_px)

    @property
    def mirrorable(self) -> bool:
        """Whether :meth:`mirrored` exists for this distortion model (at most 8 coefficients)."""
        return len(self.dist_coeffs) <= 8

    def mirrored(self) -> "CameraModel":
        """The same camera for the image flipped left-right (``cv2.flip(image, 1)``: u -> W - 1 - u).

        The principal point mirrors, yaw and roll change sign, and so does the tangential coefficient p2
        (the distortion of the flipped image at -x is the flipped distortion at x). Thin-prism and tilted
        models (12 or 14 coefficients) have terms without such a mirror image; they raise
        :class:`CalibrationError`.
        """
        dist = self.dist_coeffs
        if not self.mirrorable:
            raise CalibrationError(
                f"camera model: cannot mirror a {len(dist)}-coefficient distortion model (at most 8 supported)")
        if dist:
            dist = dist[:3] + (-dist[3],) + dist[4:]
        return dataclasses.replace(self, cx=(self.width_px - 1) - self.cx, dist_coeffs=dist,
                                   yaw_rad=-self.yaw_rad, roll_rad=-self.roll_rad)


def default_camera(width_px: int, height_px: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> CameraModel:
    """A plausible camera for users without a calibration file.

    Square pixels with a horizontal field of view of ``hfov_deg`` (60 degrees: a typical dashcam), principal
    point at the image centre ``((W - 1) / 2, (H - 1) / 2)``, no distortion, and ``height_m=None``: metric
    distances stay unknown until the user supplies the mounting (:meth:`CameraModel.with_mounting`), because
    guessing a height would print confident but wrong distances.
    """
    width_px = _positive_int("width_px", width_px)
    height_px = _positive_int("height_px", height_px)
    hfov_deg = _finite_float("hfov_deg", hfov_deg)
    if not 1.0 <= hfov_deg <= 179.0:
        raise CalibrationError(f"default camera: hfov_deg must be within [1, 179], got {hfov_deg}")
    f_px = (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return CameraModel(
        width_px=width_px,
        height_px=height_px,
        fx=f_px,
        fy=f_px,
        cx=(width_px - 1) / 2.0,
        cy=(height_px - 1) / 2.0,
        name=f"default: {hfov_deg:g} deg horizontal FOV, centred, no distortion",
    )
