"""More reliability of ``python -m perception.run``: bad --device, read-only output, Ctrl-C during start-up, and
what is loaded at run time (hash checks, TensorRT engines, messages copied from torch).

The contract: a user mistake gives one line on stderr starting with ``error:``, exit code 2, and creates nothing;
Ctrl-C gives exit code 130 and one line, never a traceback, and leaves no lock behind.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import CLIP, REPO, need, run_cli

import perception.run
from perception.run import get_args_parser
from perception.run import main as run_main
from perception.sinks.lock import LOCK_NAME

FAST = ("--max-frames", "2", "--no-video", "--no-progress")


def one_line_error(err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert "\x1b" not in lines[0], "no terminal escape codes in messages"
    return lines[0]


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    return one_line_error(proc.stderr, *needles)


def run_in_process(*argv: str) -> int:
    return run_main(get_args_parser().parse_args(list(argv)))


# ---------------------------------------------------------------------------------------------------------------
# A1. --device: a device the backend cannot use is one line, exit 2, before the output folder exists.

def test_unknown_device_is_one_line_and_creates_nothing(tmp_path):
    """Was: --device tpu ended in torch's RuntimeError traceback, exit 1."""
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(out), "--device", "tpu", *FAST,
                   timeout=120)
    assert_one_line_error(proc, "--device", "tpu")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend,device", [("torch", "tpu"), ("torch", "cuda:x"), ("torch", "CPU"),
                                            ("torch", "mps"), ("onnxruntime", "tpu"), ("tensorrt", "tpu")])
def test_bad_device_per_backend_is_refused_before_the_output_folder(tmp_path, capsys, monkeypatch, backend, device):
    def must_not_run(*_args, **_kwargs):
        raise AssertionError("the device is checked before the output folder is locked")

    monkeypatch.setattr(perception.run, "_lock_output_dir", must_not_run)
    code = run_in_process("--source", str(need(CLIP)), "--output", str(tmp_path / "out"), "--backend", backend,
                          "--device", device, *FAST)
    assert code == 2
    one_line_error(capsys.readouterr().err, "--device")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_cuda_without_cuda_is_refused_before_the_output_folder(tmp_path, capsys, monkeypatch, backend):
    """Was: checked only once the model was loaded into a locked output folder (torch), or after model.onnx was
    exported into it, which a failed start then left behind (onnxruntime)."""
    monkeypatch.setattr(perception.run, "_lock_output_dir", lambda args: pytest.fail("locked before the check"))
    out = tmp_path / "out"
    code = run_in_process("--source", str(need(CLIP)), "--output", str(out), "--backend", backend, "--device", "cuda",
                          *FAST)
    assert code == 2
    one_line_error(capsys.readouterr().err, "cuda")
    assert not out.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_beyond_the_gpus_is_refused(tmp_path, capsys):
    code = run_in_process("--source", str(need(CLIP)), "--output", str(tmp_path / "out"), "--device",
                          f"cuda:{torch.cuda.device_count()}", *FAST)
    assert code == 2
    one_line_error(capsys.readouterr().err, "--device")


# ---------------------------------------------------------------------------------------------------------------
# A2. A read-only output folder.

def _without_file_permissions_override() -> list[str]:
    """A command prefix under which permissions apply: nothing for a normal user; for root, capsh dropping
    CAP_DAC_OVERRIDE (root ignores file modes otherwise); skip when neither works."""
    if os.geteuid() != 0:
        return []
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("running as root, which ignores file permissions, and capsh is not here to drop that")
    probe = subprocess.run([capsh, "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", "true"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("running as root, which ignores file permissions, and capsh cannot drop that here")
    return [capsh, "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", 'exec "$0" "$@"']


def test_read_only_output_folder_is_one_line(tmp_path):
    prefix = _without_file_permissions_override()
    out = tmp_path / "out"
    out.mkdir()
    (out / "frames.jsonl").write_text('{"frame": 0}\n')
    out.chmod(0o555)
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run([*prefix, sys.executable, "-m", "perception.run", "--source", str(need(CLIP)),
                               "--output", str(out), *FAST], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)
        assert_one_line_error(proc, str(out), "ermission denied")
        assert sorted(p.name for p in out.iterdir()) == ["frames.jsonl"]
        assert (out / "frames.jsonl").read_text() == '{"frame": 0}\n'
    finally:
        out.chmod(0o755)


# ---------------------------------------------------------------------------------------------------------------
# A3. Ctrl-C (or SIGTERM) during start-up, before the first frame: exit 130, one line, no lock left behind.

def test_interrupt_while_the_model_loads_in_process(tmp_path, capsys, monkeypatch):
    """Was: KeyboardInterrupt escaped main (traceback, exit -2) from anywhere before the frame loop."""
    def interrupted_load(args):
        assert (Path(args.output) / LOCK_NAME).exists(), "the folder is locked while the model loads"
        raise KeyboardInterrupt

    out = tmp_path / "new" / "out"
    monkeypatch.setattr(perception.run, "_load_model", interrupted_load)
    assert run_in_process("--source", str(need(CLIP)), "--output", str(out), *FAST) == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], lines
    assert not (tmp_path / "new").exists(), "the folders this run created are removed again"

    kept = tmp_path / "kept"  # an existing folder with an earlier run in it: left as it was, lock removed
    kept.mkdir()
    (kept / "frames.jsonl").write_text('{"frame": 0, "status": "ok"}\n')
    assert run_in_process("--source", str(need(CLIP)), "--output", str(kept), "--resume", *FAST) == 130
    assert sorted(p.name for p in kept.iterdir()) == ["frames.jsonl"]
    assert (kept / "frames.jsonl").read_text() == '{"frame": 0, "status": "ok"}\n'


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_start_up(tmp_path, sig):
    """SIGINT (or SIGTERM) once the output folder is locked, while the model, lanes and planner load: exit 130,
    one line, no traceback, no lock. A machine fast enough to reach the frame loop first gives a clean 130 or 0.
    Was: a traceback and exit -2 (SIGINT); no clean-up at all, the lock left behind (SIGTERM)."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "perception.run", "--source", str(need(CLIP)), "--output",
                             str(out), *FAST], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (out / LOCK_NAME).exists():
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode in (130, 0), (proc.returncode, stderr)
    assert not (out / LOCK_NAME).exists()
    if proc.returncode == 130 and "before the first frame" in stderr:
        assert [line for line in stderr.splitlines() if line.strip()] == [stderr.strip()], stderr
        assert not out.exists(), "a run stopped before its first frame leaves no folder behind"


def test_sigint_soon_after_start(tmp_path):
    """SIGINT half a second after start (imports, opening the input): 130 or a clean finish, never a traceback."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "perception.run", "--source", str(need(CLIP)), "--output",
                             str(out), *FAST], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if "Traceback" in stderr and ", in cli\n" not in stderr:
        pytest.skip("the signal came before perception.run's cli() started (Python still importing: a slow machine)")
    assert "Traceback" not in stderr, stderr
    assert proc.returncode in (130, 0), (proc.returncode, stderr)
    assert not (out / LOCK_NAME).exists()


# ---------------------------------------------------------------------------------------------------------------
# B3. Messages never carry terminal escape codes or unsafe advice copied from torch ("weights_only=False").

class _NotATensor:
    """A class torch.load(weights_only=True) refuses to unpickle."""


def test_refused_pickle_message_has_no_unsafe_advice(tmp_path, capsys):
    """Was: 'not a safe torch checkpoint (Weights only load failed. This file can still be loaded, to do so you
    have two options, \\x1b[1mdo those steps only if you trust the source ...\\x1b[0m. )'."""
    evil = tmp_path / "evil.pt"
    torch.save({"format": "perception.multitask", "obj": _NotATensor()}, evil)
    code = run_in_process("--source", str(need(CLIP)), "--output", str(tmp_path / "out"), "--weights", str(evil),
                          *FAST)
    assert code == 2
    err = capsys.readouterr().err
    line = one_line_error(err, "evil.pt", "not a safe torch checkpoint")
    for unsafe in ("weights_only=False", "can still be loaded", "trust the source", "safe_globals", "\x1b"):
        assert unsafe not in err, line
    assert not (tmp_path / "out").exists()


def test_clean_message_on_torch_full_refusal():
    from perception.errors import clean_message, first_line

    try:
        torch.load(_saved(_NotATensor()), weights_only=True)
    except Exception as e:  # noqa: BLE001  (whatever torch raises: its text is what matters)
        full = str(e)
    else:
        pytest.fail("torch.load(weights_only=True) unpickled a custom class")
    for text in (clean_message(full), first_line(Exception(full), 400)):
        assert "\x1b" not in text and "\n" not in text and "\t" not in text
        assert "weights_only" not in text.replace("weights_only=True", ""), text
        assert "safe_globals" not in text and "can still be loaded" not in text, text
    assert clean_message("input not found: ../a  b.mp4\x1b[0m") == "input not found: ../a  b.mp4"


def _saved(obj):
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


# ---------------------------------------------------------------------------------------------------------------
# B1. Every file loaded at run time is hash-checked against what is known about it, before it is parsed.

def test_exported_model_with_a_wrong_hash_in_its_name_is_refused_before_parsing(tmp_path, capsys):
    """Was: the '-<hex>' in an .onnx name was ignored (only checkpoints honoured it), and the file was parsed
    before --weights-sha256 was compared."""
    bad = tmp_path / "model-deadbeef.onnx"
    bad.write_bytes(b"not an onnx file")
    out = tmp_path / "out"
    common = ("--source", str(need(CLIP)), "--output", str(out), "--backend", "onnxruntime", *FAST)
    assert run_in_process(*common, "--weights", str(bad)) == 2
    one_line_error(capsys.readouterr().err, str(bad), "hash in its name")
    plain = tmp_path / "model.onnx"
    plain.write_bytes(b"not an onnx file")
    assert run_in_process(*common, "--weights", str(plain), "--weights-sha256", "0" * 64) == 2
    one_line_error(capsys.readouterr().err, str(plain), "SHA-256 mismatch")
    assert not out.exists()


def test_onnxruntime_runner_checks_the_bytes_it_loads(tmp_path):
    pytest.importorskip("onnxruntime")
    from perception.backends.onnx_export import export_onnx
    from perception.backends.runner import make_runner
    from perception.errors import WeightsError
    from perception.model import build_multitask_lite, sha256_of

    path = export_onnx(build_multitask_lite(), tmp_path / "m.onnx", input_size_wh=(128, 64))
    runner = make_runner("onnxruntime", model_path=path, expected_sha256=sha256_of(path))
    assert runner.model_config.input_size_wh == (128, 64)
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        make_runner("onnxruntime", model_path=path, expected_sha256="0" * 64)


def _shipped_policy():
    from perception.planning.policy import DEFAULT_POLICY, PUBLISHED_POLICIES

    if DEFAULT_POLICY is None:
        pytest.skip("no planner policy is shipped")
    return PUBLISHED_POLICIES[DEFAULT_POLICY]


def test_planner_policy_file_is_hash_checked(tmp_path, capsys):
    """Was: a --planner-policy FILE was unpickled with no hash check at all (no flag, name ignored)."""
    from perception.errors import WeightsError
    from perception.planning.policy import load_policy

    record = _shipped_policy()
    renamed = tmp_path / "policy-00000000.pt"
    shutil.copy(record.path, renamed)
    with pytest.raises(WeightsError, match="hash in its name"):
        load_policy(str(renamed))
    plain = tmp_path / "policy.pt"
    shutil.copy(record.path, plain)
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        load_policy(str(plain), expected_sha256="0" * 64)
    assert load_policy(str(plain), expected_sha256=record.sha256.upper()).sha256 == record.sha256
    named = tmp_path / f"policy-{record.sha256[:8]}.pt"
    shutil.copy(record.path, named)
    assert load_policy(str(named)).sha256 == record.sha256

    out = tmp_path / "out"
    code = run_in_process("--source", str(need(CLIP)), "--output", str(out), "--planner-policy", str(plain),
                          "--planner-policy-sha256", "0" * 64, *FAST)
    assert code == 2
    one_line_error(capsys.readouterr().err, "planner policy", str(plain), "SHA-256 mismatch")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------------
# B2. A TensorRT engine is native code: refused unless its bytes match its sidecar's SHA-256 (or --trust-engine),
# and refused before TensorRT is imported.

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def _fake_engine(tmp_path, recorded: str | None):
    from perception.backends.metadata import ENGINE_SHA256_KEY, ExportFacts, build_metadata, write_sidecar
    from perception.model import OUTPUT_NAMES, ModelConfig

    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\x00not really an engine, and not what the sidecar says")
    meta = build_metadata(ExportFacts(ModelConfig(input_size_wh=(128, 64)), "ab" * 32, "w.pt", "fp16", 1),
                          input_name="images", output_names=OUTPUT_NAMES, opset=17)
    meta.update({"source_onnx_sha256": "cd" * 32, "tensorrt_version": "10.3.0"})
    if recorded is not None:
        meta[ENGINE_SHA256_KEY] = recorded
    write_sidecar(engine, meta)
    return engine


@pytest.mark.parametrize("recorded", ["0" * 64, None], ids=["mismatch", "no-hash"])
def test_engine_not_matching_its_sidecar_is_refused(tmp_path, recorded):
    """Was: any .engine with a readable sidecar went to TensorRT's deserialiser; the sidecar recorded no hash of
    the engine at all."""
    engine = _fake_engine(tmp_path, recorded)
    out = tmp_path / "out"
    code = ("import sys, perception.run as r\n"
            "code = r.main(r.get_args_parser().parse_args(sys.argv[1:]))\n"
            "assert 'tensorrt' not in sys.modules, 'refused before TensorRT is imported'\n"
            "raise SystemExit(code)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code, "--source", str(need(CLIP)), "--output", str(out),
                           "--backend", "tensorrt", "--weights", str(engine), *FAST], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, str(engine), "--trust-engine", "native code")
    assert not out.exists()


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here: the engine would really be loaded")
def test_trust_engine_and_a_matching_sidecar_get_past_the_check(tmp_path, capsys):
    from perception.model import sha256_of

    engine = _fake_engine(tmp_path, "0" * 64)
    common = ("--source", str(need(CLIP)), "--output", str(tmp_path / "out"), "--backend", "tensorrt",
              "--weights", str(engine), *FAST)
    assert run_in_process(*common, "--trust-engine") == 2
    err = capsys.readouterr().err
    assert "warning: --trust-engine" in err and "error: TensorRT is not installed" in err, err
    engine = _fake_engine(tmp_path, sha256_of(tmp_path / "model.engine"))
    assert run_in_process(*common) == 2
    one_line_error(capsys.readouterr().err, "TensorRT is not installed")


def test_read_engine_bytes_checks_what_is_deserialised(tmp_path):
    from perception.backends.metadata import UntrustedEngine, read_engine_bytes, read_sidecar
    from perception.model import sha256_of

    engine = _fake_engine(tmp_path, "0" * 64)
    with pytest.raises(UntrustedEngine, match="does not match"):
        read_engine_bytes(engine, read_sidecar(engine))
    assert read_engine_bytes(engine, read_sidecar(engine), trust=True) == engine.read_bytes()
    engine = _fake_engine(tmp_path, sha256_of(engine))
    assert read_engine_bytes(engine, read_sidecar(engine)) == engine.read_bytes()
    engine.write_bytes(engine.read_bytes() + b"tampered after the sidecar was written")
    with pytest.raises(UntrustedEngine, match="does not match"):
        read_engine_bytes(engine, read_sidecar(engine))


def test_sidecar_tool_records_the_engine_hash(tmp_path):
    from deploy.sidecar import get_args_parser, main
    from perception.backends.metadata import ENGINE_SHA256_KEY, read_sidecar, verify_engine
    from perception.backends.onnx_export import export_onnx
    from perception.cli import run_main
    from perception.model import build_multitask_lite, sha256_of

    onnx_path = export_onnx(build_multitask_lite(), tmp_path / "m.onnx", input_size_wh=(128, 64))
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine from trtexec")
    argv = ["--onnx", str(onnx_path), "--engine", str(engine), "--precision", "fp16", "--tensorrt-version", "10.3.0"]
    assert run_main(main, get_args_parser().parse_args(argv)) == 0
    meta = read_sidecar(engine)
    assert meta[ENGINE_SHA256_KEY] == sha256_of(engine)
    verify_engine(engine, meta, sha256_of(engine))
