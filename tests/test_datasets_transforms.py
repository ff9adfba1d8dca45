"""Augmentation keeps image, boxes, mask and lanes consistent; letterbox maps coordinates both ways."""

from pathlib import Path

import numpy as np
import pytest

from datasets import SEG_CLASSES, SEG_IGNORE_INDEX, ApolloDataset, Sample, TuSimpleDataset
from datasets.lanes import assign_lane_sides
from datasets.transforms import Augment, AugmentConfig, letterbox
from perception.preprocess.letterbox import LetterboxParams

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CAR = SEG_CLASSES.index("car")
NO_PHOTO = dict(color_p=0.0, blur_p=0.0, noise_p=0.0)


def data_dir(name: str) -> Path:
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"shared test data not found: {p} (the shared/ folder sits beside the repo folder)")
    return p


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def painted_sample() -> Sample:
    """A car box with the car class painted in the mask exactly under it."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    mask = np.zeros((240, 320), np.uint8)  # road
    x1, y1, x2, y2 = 110, 90, 190, 140
    mask[y1:y2, x1:x2] = CAR
    return Sample(image_bgr=img, boxes_xyxy=np.array([[x1, y1, x2, y2]], np.float32), labels=np.array([0]),
                  ignore_boxes_xyxy=np.zeros((0, 4), np.float32), seg_mask=mask, source="synthetic").validate()


@pytest.mark.parametrize("seed", range(8))
def test_box_and_mask_pixels_move_together(seed):
    aug = Augment(AugmentConfig(geometric_p=1.0, rotate_deg=5.0, perspective_p=0.5, hflip_p=0.5), seed=seed)
    out = aug(painted_sample()).validate()
    ys, xs = np.nonzero(out.seg_mask == CAR)
    assert len(out.boxes_xyxy) == 1
    box = out.boxes_xyxy[0]
    pixel_box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)  # edge coordinates of the painted pixels
    assert iou(box, pixel_box) > 0.9
    # every painted pixel lies inside the box (1 px slack for nearest-neighbour resampling)
    assert xs.min() >= box[0] - 1 and xs.max() + 1 <= box[2] + 1
    assert ys.min() >= box[1] - 1 and ys.max() + 1 <= box[3] + 1
    assert set(np.unique(out.seg_mask).tolist()) <= {0, CAR, SEG_IGNORE_INDEX}  # nearest-neighbour, 255 borders


def test_same_seed_same_output():
    s = painted_sample()
    a = Augment(AugmentConfig(rotate_deg=5.0), seed=0)
    first, again = a(s, seed=123), a(s, seed=123)
    assert np.array_equal(first.image_bgr, again.image_bgr) and np.array_equal(first.boxes_xyxy, again.boxes_xyxy)


def test_box_mostly_cropped_away_becomes_ignore_region():
    s = painted_sample().replace(boxes_xyxy=np.array([[300, 90, 330 - 10, 140]], np.float32))  # 20 px at the edge
    aug = Augment(AugmentConfig(geometric_p=1.0, scale_range=(2.0, 2.0), translate_frac=0.0, hflip_p=0.0, **NO_PHOTO))
    out = aug(s)  # zoom x2 about the centre: the box ends up outside or as a sliver
    assert len(out.boxes_xyxy) == 0 and out.labels.shape == (0,)
    s2 = painted_sample().replace(boxes_xyxy=np.array([[200, 90, 280, 140]], np.float32))
    out2 = aug(s2)  # x 200..280 -> 240..400, clipped at 320: half visible (>= 0.3) -> still a car
    np.testing.assert_allclose(out2.boxes_xyxy, [[240, 60, 320, 160]], atol=0.01)
    s3 = painted_sample().replace(boxes_xyxy=np.array([[230, 90, 310, 140]], np.float32))
    out3 = aug(s3)  # 300..460 -> 20/160 visible -> ignore region
    assert len(out3.boxes_xyxy) == 0 and len(out3.ignore_boxes_xyxy) == 1


def test_horizontal_flip_mirrors_lanes_and_swaps_sides():
    s = TuSimpleDataset(data_dir("tusimple_sample_512x288") / "label_data.json")[1]
    aug = Augment(AugmentConfig(hflip_p=1.0, geometric_p=0.0, **NO_PHOTO))
    out = aug(s).validate()
    w = s.width
    for before, after in zip(s.lanes, out.lanes):
        np.testing.assert_allclose(after[:, 0], w - 1 - before[:, 0], atol=1e-3)
        np.testing.assert_allclose(after[:, 1], before[:, 1])
    swap = {"ego_left": "ego_right", "ego_right": "ego_left", "left_left": "right_right", "right_right": "left_left"}
    assert out.lane_sides == [swap[x] for x in s.lane_sides]
    assert out.lane_sides == assign_lane_sides(out.lanes, out.width, out.height)
    assert np.array_equal(out.image_bgr, s.image_bgr[:, ::-1])


def test_night_simulation_darkens_a_real_day_frame_and_keeps_its_lanes():
    s = TuSimpleDataset(data_dir("tusimple_sample_512x288") / "label_data.json")[1]
    aug = Augment(AugmentConfig(hflip_p=0.0, geometric_p=0.0, night_p=1.0, **NO_PHOTO), seed=3)
    out = aug(s).validate()
    assert out.meta["augment"]["night"] and out.image_bgr.shape == s.image_bgr.shape
    luma_day, luma_night = s.image_bgr.mean(axis=2), out.image_bgr.mean(axis=2).astype(float)
    assert luma_night.mean() < 0.5 * luma_day.mean()             # much darker overall
    h = s.height
    top, pool = luma_night[: h // 3].mean(), luma_night[int(0.7 * h):].mean()
    assert pool > 1.5 * top                                     # the headlight pool lights the road ahead
    assert top < 0.35 * luma_day[: h // 3].mean()               # the sky goes dark
    for before, after in zip(s.lanes, out.lanes):               # geometry untouched
        np.testing.assert_allclose(after, before)
    assert out.lane_sides == s.lane_sides
    again = Augment(AugmentConfig(hflip_p=0.0, geometric_p=0.0, night_p=1.0, **NO_PHOTO), seed=3)(s)
    assert np.array_equal(again.image_bgr, out.image_bgr)       # reproducible from the seed
    day = Augment(AugmentConfig(hflip_p=0.0, geometric_p=0.0, night_p=0.0, **NO_PHOTO), seed=3)(s)
    assert not day.meta["augment"]["night"] and np.array_equal(day.image_bgr, s.image_bgr)


def test_real_apollo_frame_stays_valid_under_augmentation():
    root = data_dir("apollo_2d_obstacle_dotah88")
    with pytest.warns(UserWarning):
        ds = ApolloDataset(root)
    s = ds[0]
    aug = Augment(AugmentConfig(rotate_deg=3.0, perspective_p=0.5), seed=1)
    for k in range(3):
        out = aug(s).validate()
        assert out.image_bgr.shape == s.image_bgr.shape
        assert len(out.meta["box_attrs"]["class_name"]) == len(out.boxes_xyxy)


def test_letterbox_1920x1080_to_640x384():
    img = np.zeros((1080, 1920, 3), np.uint8)
    mask = np.zeros((1080, 1920), np.uint8)
    lane = np.array([[0, 1079], [1919, 0]], np.float32)
    s = Sample(img, boxes_xyxy=np.array([[0, 0, 1920, 1080], [960, 540, 990, 570]], np.float32),
               labels=np.array([0, 1]), seg_mask=mask, lanes=[lane], source="synthetic")
    out, lb = letterbox(s)
    out.validate()
    assert out.image_bgr.shape == (384, 640, 3) and (lb.pad_left_px, lb.pad_top_px) == (0, 12)
    assert lb.resized_wh == (640, 360)
    assert (out.image_bgr[:12] == 114).all() and (out.image_bgr[-12:] == 114).all()
    assert (out.seg_mask[:12] == SEG_IGNORE_INDEX).all() and (out.seg_mask[12:-12] == 0).all()
    np.testing.assert_allclose(out.boxes_xyxy[0], [0, 12, 640, 372])
    pts = np.array([[100.0, 200.0], [1500.0, 900.0]], np.float32)
    np.testing.assert_allclose(lb.src_from_net(lb.net_from_src(pts)), pts, atol=1e-3)


def test_letterbox_params_tall_image():
    lb = LetterboxParams.fit((480, 960), (640, 384))
    assert lb.resized_wh == (192, 384) and (lb.pad_left_px, lb.pad_top_px) == (224, 0)


def test_training_and_inference_letterbox_give_the_same_pixels():
    from perception.preprocess import Preprocessor

    rng = np.random.default_rng(0)
    for w, h in ((1920, 1080), (1242, 375), (480, 360), (256, 512)):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        trained_on = letterbox(Sample(img, source="synthetic"))[0].image_bgr
        used_rgb, _ = Preprocessor((640, 384))(img)
        assert np.array_equal(trained_on[..., ::-1], used_rgb)
