"""Camera calibration and flat-road geometry for the perception stack.

Axis conventions (written once, here; every module and file in ``calibration/`` follows them)
---------------------------------------------------------------------------------------------
Image pixels (OpenCV): ``u`` to the right, ``v`` down, origin at the top-left pixel; the *centre* of pixel
    column i / row j is at u = i / v = j (so the image spans -0.5 .. W-0.5 and its centre is
    ((W-1)/2, (H-1)/2)). Boxes ``(x1, y1, x2, y2)`` use the same coordinates. Geometry works on
    *undistorted* pixels (the ideal pinhole with the camera's K); see ``calibration.undistort``.
Camera frame (OpenCV): origin at the optical centre, ``x`` right, ``y`` down, ``z`` forward along the
    optical axis; metres. A camera-frame point P projects to pixel ~ K @ P.
Road (ego) frame: ``x`` forward, ``y`` left, ``z`` up (right-handed, ISO 8855 axes); metres; origin on the
    road surface directly below the camera, so the camera centre is (0, 0, height_m). The road is the plane
    z = 0. "Forward" is the vehicle's direction of travel; a camera mounted straight has yaw = 0.
Mounting angles (radians), each a right-handed rotation about a road axis, applied as yaw, then pitch,
    then roll (intrinsic z-y'-x''), starting from a level camera looking along road +x:
    * pitch (about y, left):    positive = camera looking DOWN toward the road (horizon above image centre);
    * yaw   (about z, up):      positive = camera turned LEFT (the road ahead appears right of centre);
    * roll  (about x, forward): positive = camera rotated CLOCKWISE as seen from behind the camera
      (the image content then appears rotated counter-clockwise).
Transforms are named ``x_from_y``: ``camera_from_road_rotation`` maps road vectors to camera vectors.
Units are in names where not obvious (``height_m``, ``pitch_rad``, ``error_px``).

Public API
----------
CameraModel, default_camera                       the camera (``calibration.camera``)
load_camera, load_kitti_calib, save_camera_opencv, save_camera_ros   files (``calibration.io``)
undistort_points, distort_points, undistort_image, undistortion_maps (``calibration.undistort``)
road_from_pixel, pixel_from_road, distance_m_from_box, bev_homography, warp_to_bev, ... (``calibration.ground``)
camera_from_road_rotation, road_from_camera_rotation (``calibration.frames``)
estimate_pitch_yaw, pitch_yaw_from_vanishing_point (``calibration.pitch_yaw``; CLI ``calibration.extrinsics``)
calibrate_folder (``calibration.intrinsics``, with its CLI)
render_lane_scene, render_chessboard: synthetic test images (``calibration.synthetic``)
CLIs: ``python -m calibration.intrinsics`` (chessboards -> camera file), ``python -m calibration.extrinsics``
(lane-line vanishing point in a video -> pitch and yaw).
"""

from calibration.camera import CameraModel, default_camera
from calibration.errors import CalibrationError, CameraFileError, MountingUnknownError
from calibration.frames import (
    camera_from_road_rotation,
    mounting_angles_from_forward_direction,
    mounting_angles_from_road_from_camera,
    road_from_camera_rotation,
)
from calibration.ground import (
    bev_from_road_matrix,
    bev_homography,
    bev_size_wh,
    camera_from_road_transform,
    distance_m_from_box,
    horizon_line,
    horizon_v_px,
    image_from_road_homography,
    pixel_from_road,
    road_from_pixel,
    road_points_from_boxes,
    warp_to_bev,
)
from calibration.io import load_camera, load_kitti_calib, save_camera_opencv, save_camera_ros
from calibration.pitch_yaw import PitchYawEstimate, estimate_pitch_yaw, pitch_yaw_from_vanishing_point
from calibration.undistort import distort_points, pinhole_of, undistort_image, undistort_points, undistortion_maps

__all__ = [
    "CalibrationError",
    "CameraFileError",
    "CameraModel",
    "MountingUnknownError",
    "PitchYawEstimate",
    "bev_from_road_matrix",
    "bev_homography",
    "bev_size_wh",
    "camera_from_road_rotation",
    "camera_from_road_transform",
    "default_camera",
    "distance_m_from_box",
    "distort_points",
    "estimate_pitch_yaw",
    "horizon_line",
    "horizon_v_px",
    "image_from_road_homography",
    "load_camera",
    "load_kitti_calib",
    "mounting_angles_from_forward_direction",
    "mounting_angles_from_road_from_camera",
    "pinhole_of",
    "pitch_yaw_from_vanishing_point",
    "pixel_from_road",
    "road_from_camera_rotation",
    "road_from_pixel",
    "road_points_from_boxes",
    "save_camera_opencv",
    "save_camera_ros",
    "undistort_image",
    "undistort_points",
    "undistortion_maps",
    "warp_to_bev",
]
