"""perception.sinks.mcap_recover: an MCAP file cut anywhere gives back every message of its whole chunks, with a
summary that indexed readers use. (A real killed run: tests/test_kill_recovery.py.)"""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

pytest.importorskip("mcap", reason="MCAP needs the optional 'logs' extra")
from mcap.reader import make_reader  # noqa: E402
from mcap.writer import Writer  # noqa: E402

from perception.errors import UserInputError  # noqa: E402
from perception.sinks.mcap_recover import recover_mcap  # noqa: E402

N = 200


def write_unfinished(path, *, finish: bool = False) -> None:
    """N messages on two channels in small chunks; the file is left without its summary unless ``finish``."""
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=2048)
        w.start(profile="", library="test")
        schema = w.register_schema("test.Frame", "jsonschema", b'{"type": "object"}')
        frames = w.register_channel("/frame", "json", schema)
        plans = w.register_channel("/plan", "json", 0)
        w.add_metadata("perception", {"input": "clip.mp4"})
        for i in range(N):
            w.add_message(frames, log_time=i, publish_time=i, data=json.dumps({"frame": i, "pad": "x" * 50}).encode())
            w.add_message(plans, log_time=i, publish_time=i, data=json.dumps({"frame": i}).encode())
        if finish:
            w.finish()
        else:
            f.flush()  # what the OS has when the process is killed (the chunk in progress was in memory)


def read_indexed(path) -> dict[str, list[int]]:
    with open(path, "rb") as f:
        reader = make_reader(f)
        assert reader.get_summary() is not None
        frames: dict[str, list[int]] = {}
        for _, channel, message in reader.iter_messages():
            frames.setdefault(channel.topic, []).append(json.loads(message.data)["frame"])
        assert [m.name for m in reader.iter_metadata()] == ["perception"]
    return frames


@pytest.mark.parametrize("keep", [1.0, 0.7, 0.31])
def test_a_cut_file_gives_back_its_whole_chunks(tmp_path, keep):
    full = tmp_path / "full.mcap"
    write_unfinished(full)
    data = full.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: int(len(data) * keep)])
    report = recover_mcap(cut, tmp_path / "out.mcap")
    frames = read_indexed(tmp_path / "out.mcap")
    assert not report.complete
    n = len(frames["/frame"])
    assert n > 0.2 * N * keep, "all but the cut chunk"
    assert frames["/frame"] == list(range(n)) and frames["/plan"] == list(range(len(frames["/plan"])))
    assert report.messages == n + len(frames["/plan"]) == sum(report.messages_per_topic.values())
    assert report.bytes_kept + report.bytes_lost == len(cut.read_bytes())


def test_a_complete_file_is_copied_whole(tmp_path):
    path = tmp_path / "done.mcap"
    write_unfinished(path, finish=True)
    report = recover_mcap(path, tmp_path / "copy.mcap")
    assert report.complete and report.bytes_lost == 0
    assert read_indexed(tmp_path / "copy.mcap") == {"/frame": list(range(N)), "/plan": list(range(N))}


def test_bad_input_is_one_line(tmp_path):
    text = tmp_path / "notes.mcap"
    text.write_text("not an MCAP file")
    with pytest.raises(UserInputError, match="not an MCAP file"):
        recover_mcap(text, tmp_path / "out.mcap")
    assert not (tmp_path / "out.mcap").exists() and not list(tmp_path.glob(".*"))
    done = run_cli("perception.tools.recover_mcap", str(tmp_path / "missing.mcap"), timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {tmp_path / 'missing.mcap'}: no such file"
