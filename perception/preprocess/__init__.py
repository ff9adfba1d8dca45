"""OpenCV preprocessing: one resize (or fused undistort+resize remap) per frame, uint8 RGB out."""

from perception.preprocess.letterbox import PAD_VALUE, LetterboxParams
from perception.preprocess.transform import Preprocessor

__all__ = ["LetterboxParams", "Preprocessor", "PAD_VALUE"]
