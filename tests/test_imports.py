"""The dependency graph of our own modules: no import cycles, and the runtime imports no experiment code.

Read statically (``ast``, nothing is imported): every ``import`` / ``from ... import`` in the files of
perception/, calibration/, datasets/ and deploy/, at the top of a file and inside functions alike, since a
function-level import is still a dependency (STYLE.md item 9: one that hides a cycle means a module is in
the wrong place).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGES = ("perception", "calibration", "datasets", "deploy")
RUNTIME_ENTRY = "perception.run"
# What the main job must never execute: training, simulator and export code (STYLE.md item 14).
RUNTIME_FORBIDDEN_MODULES = ("perception.training", "perception.planning.sim", "deploy", "perception.train",
                             "perception.evaluate")
RUNTIME_FORBIDDEN_PACKAGES = ("gymnasium", "highway_env", "stable_baselines3")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every .py of our packages under ``root``."""
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``path`` imports anywhere in the file (absolute names; ``from a import b`` gives ``a.b``
    when that is a module, else ``a``). Relative imports are resolved against ``name``'s package."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between our modules, third-party top-level packages each module imports)."""
    modules = project_modules(root)
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = imports_of(name, path)
        edges[name] = {t for t in targets if t in modules and t != name}
        external[name] = {t.split(".")[0] for t in targets if t.split(".")[0] not in PACKAGES and t}
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> dict[str, str]:
    """Module -> the module that first imports it, for everything importing ``start`` executes. Importing
    ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, so parent packages count as imported."""
    parent_of = {start: ""}
    todo = [start]
    while todo:
        m = todo.pop()
        parts = m.split(".")
        nexts = set(edges.get(m, ())) | {".".join(parts[:i]) for i in range(1, len(parts))}
        for t in sorted(nexts):
            if t in edges and t not in parent_of:
                parent_of[t] = m
                todo.append(t)
    return parent_of


def chain(parent_of: dict[str, str], module: str) -> str:
    path = [module]
    while parent_of.get(path[-1]):
        path.append(parent_of[path[-1]])
    return " <- ".join(path)


def runtime_violations(edges: dict[str, set[str]], external: dict[str, set[str]]) -> list[str]:
    parent_of = reachable(edges, RUNTIME_ENTRY)
    bad = []
    for m in sorted(parent_of):
        if any(m == f or m.startswith(f + ".") for f in RUNTIME_FORBIDDEN_MODULES):
            bad.append(chain(parent_of, m))
        for pkg in sorted(external[m] & set(RUNTIME_FORBIDDEN_PACKAGES)):
            bad.append(f"{pkg} <- {chain(parent_of, m)}")
    return bad


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    return import_graph(REPO)


def test_the_graph_covers_the_project(graph):
    edges, _ = graph
    assert {"perception.run", "perception.backends.runner", "perception.planning.veto",
            "perception.planning.sim.envs", "deploy.export", "calibration.camera", "datasets.kitti"} <= set(edges)
    assert "perception.backends.runner" in edges["deploy.benchmark"]


def test_no_import_cycles_between_our_modules(graph):
    edges, _ = graph
    found = cycles(edges)
    assert not found, "import cycles (move the shared part into a module both can import):\n" + \
        "\n".join(" <-> ".join(c) for c in found)


def test_the_main_job_imports_no_training_simulator_or_export_code(graph):
    edges, external = graph
    assert RUNTIME_ENTRY in edges
    bad = runtime_violations(edges, external)
    assert not bad, f"{RUNTIME_ENTRY} reaches training/simulator/export code:\n" + "\n".join(bad)


def test_the_checks_fail_on_a_cycle_and_on_a_runtime_import_of_the_simulator(tmp_path):
    """The checks above can fail: a copy of two of our modules with a bad import added to each."""
    for name, text in {
        "perception/__init__.py": "",
        "perception/run.py": "from perception.planning import stage\n",
        "perception/planning/__init__.py": "",
        "perception/planning/stage.py": "def act():\n    from perception.planning.sim.envs import make_env\n",
        "perception/planning/sim/__init__.py": "",
        "perception/planning/sim/envs.py": "import gymnasium\nfrom perception.planning import stage\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    edges, external = import_graph(tmp_path)
    assert cycles(edges) == [["perception.planning.sim.envs", "perception.planning.stage"]]
    assert runtime_violations(edges, external) == [
        "perception.planning.sim <- perception.planning.sim.envs <- perception.planning.stage <- perception.run",
        "perception.planning.sim.envs <- perception.planning.stage <- perception.run",
        "gymnasium <- perception.planning.sim.envs <- perception.planning.stage <- perception.run",
    ]
