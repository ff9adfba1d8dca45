"""Label parsers either parse or raise DatasetFormatError on arbitrary input, never another exception."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets import APOLLO_CLASS_MAP, KITTI_CLASS_MAP, DatasetFormatError
from datasets.culane import parse_culane_lines_text
from datasets.kitti import objects_to_sample_fields, parse_kitti_calib_text, parse_kitti_label_text
from datasets.tusimple import parse_tusimple_json_lines

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Real label text to truncate / mutate; small built-in examples when shared/data is absent.
_APOLLO = DATA / "apollo_2d_obstacle_dotah88" / "train" / "labels" / "000001.txt"
_KITTI = DATA / "kitti_object_6frames" / "training" / "label_2" / "000001.txt"
_TUSIMPLE = DATA / "tusimple_sample_512x288" / "label_data.json"
APOLLO_TEXT = (_APOLLO.read_bytes() if _APOLLO.is_file()
               else b"car 0 0 0 1 2 30 40 0 0 0 0 0 0 0\nignore 0 0 0 5 5 9 9 0 0 0 0 0 0 0\n")
KITTI_TEXT = (_KITTI.read_bytes() if _KITTI.is_file()
              else b"Car 0.00 0 1.85 387.63 181.54 423.81 203.12 1.67 1.87 3.69 -16.53 2.39 58.49 1.57\n")
TUSIMPLE_TEXT = (b"\n".join(_TUSIMPLE.read_bytes().splitlines()[:2]) if _TUSIMPLE.is_file()
                 else b'{"lanes": [[-2, 10, 12]], "h_samples": [100, 110, 120], "raw_file": "a.jpg"}\n')


def _kitti_like(data: bytes, class_map) -> None:
    objs = parse_kitti_label_text(data, "fuzz.txt")
    objects_to_sample_fields(objs, class_map, 1920, 1080, strict=True, path="fuzz.txt")


def _only_format_errors(fn, data) -> None:
    try:
        fn(data)
    except DatasetFormatError as e:
        assert str(e).startswith("fuzz")  # names the file


def _mutate(text: bytes, cut: int, insert: bytes) -> bytes:
    cut = cut % (len(text) + 1)
    return text[:cut] + insert + text[cut:]


tokens = st.sampled_from([b" ", b"\n", b"nan", b"-inf", b"1e999", b"car", b"DontCare", b"0", b"-1", b"\t", b"{",
                          b"]", b'"', b",", b"-2", b"1_0", b"\xff", b"\x00", b"true", b"null", b"[[[[", b"9" * 5000])


@pytest.mark.parametrize("text, class_map", [(APOLLO_TEXT, APOLLO_CLASS_MAP), (KITTI_TEXT, KITTI_CLASS_MAP)],
                         ids=["apollo", "kitti"])
@FUZZ
@given(data=st.binary(max_size=400), cut=st.integers(0, 10_000), insert=st.lists(tokens, max_size=4))
def test_kitti_like_label_parser(text, class_map, data, cut, insert):
    _only_format_errors(lambda d: _kitti_like(d, class_map), data)  # random bytes
    _only_format_errors(lambda d: _kitti_like(d, class_map), text[: cut % (len(text) + 1)])  # truncated
    _only_format_errors(lambda d: _kitti_like(d, class_map), _mutate(text, cut, b"".join(insert)))


@FUZZ
@given(data=st.binary(max_size=400), cut=st.integers(0, 100_000), insert=st.lists(tokens, max_size=4),
       text=st.text(max_size=200))
def test_tusimple_json_parser(data, cut, insert, text):
    parse = lambda d: parse_tusimple_json_lines(d, "fuzz.json")  # noqa: E731
    _only_format_errors(parse, data)
    _only_format_errors(parse, text)
    _only_format_errors(parse, TUSIMPLE_TEXT[: cut % (len(TUSIMPLE_TEXT) + 1)])
    _only_format_errors(parse, _mutate(TUSIMPLE_TEXT, cut, b"".join(insert)))


@FUZZ
@given(data=st.binary(max_size=300), insert=st.lists(tokens, max_size=4), cut=st.integers(0, 1000))
def test_culane_and_calib_parsers(data, insert, cut):
    lines = b"-12.5 159 20.0 140 60.0 120\n150 159 170 140\n"
    calib = b"P2: 1 0 0 0 0 1 0 0 0 0 1 0\nR0_rect: 1 0 0 0 1 0 0 0 1\n"
    for parse in (lambda d: parse_culane_lines_text(d, "fuzz.lines.txt"),
                  lambda d: parse_kitti_calib_text(d, "fuzz_calib.txt")):
        _only_format_errors(parse, data)
        _only_format_errors(parse, _mutate(lines, cut, b"".join(insert)))
        _only_format_errors(parse, _mutate(calib, cut, b"".join(insert)))
