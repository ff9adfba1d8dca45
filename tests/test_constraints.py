"""The install is reproducible: constraints.txt pins every dependency exactly, and this environment matches it."""

from __future__ import annotations

import re
import pytest
from importlib import metadata

from conftest import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

NOT_PINNED = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")  # TORCH_SPEC decides these
EXTRAS_INSTALLED = ("onnx", "dev", "logs", "rl", "fleet", "rerun")  # what the Makefile and README install


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt line {line!r} is not an exact pin NAME==VERSION"
            pins[_norm(name)] = version
    return pins


def _requirement_name(spec: str) -> str:
    return _norm(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0])


def test_every_dependency_the_install_names_is_pinned():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    named = list(project["dependencies"])
    for extra in EXTRAS_INSTALLED:
        named += project["optional-dependencies"][extra]
    pins = _pins()
    missing = sorted({_requirement_name(s) for s in named} - set(pins)
                     - {n for n in map(_requirement_name, named) if NOT_PINNED.match(n)})
    assert not missing, f"pyproject.toml dependencies without a pin in constraints.txt: {missing}"
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()
    assert "-c constraints.txt" in (REPO / "README.md").read_text()


def test_this_environment_has_the_pinned_versions():
    pins = _pins()
    installed = {_norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
    # what the project needs, directly or through another pinned package, must be installed at its pin
    wrong = {name: (installed[name], want) for name, want in pins.items()
             if name in installed and installed[name] != want}
    assert not wrong, f"installed versions differ from constraints.txt (installed, pinned): {wrong}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    absent = sorted(n for n in map(_requirement_name, project["dependencies"])
                    if n not in installed and not NOT_PINNED.match(n))
    assert not absent, f"dependencies not installed: {absent}"
