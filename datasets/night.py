"""Night simulation for training frames: a daytime road frame made to look like a dashcam's night picture.

What changes between day and night for a camera on the road (what the simulation imitates):

* light comes from a dim ambient level (street lights, sky glow) and the car's own headlights, not the sun:
  the frame is ``image ** gamma x (ambient + pool)``, values in [0, 1], with gamma 1.5-2.5 for the camera's
  tone curve crushing the shadows, ``ambient`` 0.08-0.25 everywhere (the sky goes dark) and ``pool`` a soft
  patch of headlight on the road a little above the bottom centre (0.8-2.0 at its centre, rows 70-90 % down),
  so near lane markings stay visible and far ones fade;
* colour shifts with the lighting (sodium or LED street lights): a random warm or cool tint per channel;
* the sensor's gain raises its noise: Gaussian noise of std 1-3 % of full scale.

Street lamps, tail lights and glare are not drawn. Input and output: uint8 BGR (H, W, 3); the geometry is
untouched, so boxes, masks and lanes stay valid.
"""

from __future__ import annotations

import numpy as np


def simulate_night(image_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A night-looking copy of ``image_bgr`` (uint8 BGR, H x W x 3), drawn with ``rng``."""
    img = image_bgr.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    ys = (np.arange(h, dtype=np.float32)[:, None] - rng.uniform(0.7, 0.9) * h) / (0.25 * h)
    xs = (np.arange(w, dtype=np.float32)[None, :] - rng.uniform(0.4, 0.6) * w) / (0.3 * w)
    light = rng.uniform(0.08, 0.25) + rng.uniform(0.8, 2.0) * np.exp(-(xs ** 2 + ys ** 2))
    dark = np.power(img, rng.uniform(1.5, 2.5)) * light[..., None]
    dark *= rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    dark += rng.normal(0.0, rng.uniform(0.01, 0.03), size=dark.shape).astype(np.float32)
    return (np.clip(dark, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
