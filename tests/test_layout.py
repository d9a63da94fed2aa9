"""The package's layout holds: no import circles, and imports point one way.

Layers, from the bottom: `lra.core` (what every stage shares) → the stage families in the DAG's
order (data, embed, retrieval, diffusion, score, export, infer, report) → the top (`lra.stages`,
`lra.cli`, `lra.workflow`). A module imports only from its own layer or below, and a family only
from itself or families earlier in the DAG. Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lra.core import versions

ROOT = Path(versions.ROOT)
FAMILIES = ("data", "embed", "retrieval", "diffusion", "score", "export", "infer", "report")
TOP = {"lra", "lra.__main__", "lra.cli", "lra.stages", "lra.workflow"}


def _imports(module: str) -> set[str]:
    """The lra modules `module` imports (a package's `from . import x` names the submodule x)."""
    path = ROOT.parent.joinpath(*module.split("."))
    is_package = (path / "__init__.py").is_file()
    file = path / "__init__.py" if is_package else path.with_suffix(".py")
    package = module if is_package else module.rpartition(".")[0]
    known = versions.modules()
    out = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "lra"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            if base.split(".")[0] != "lra":
                continue
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return out - {module}


def layer(module: str) -> tuple[int, str]:
    """(rank, name): core 0, the families 1..8 in DAG order, the top 9."""
    if module in TOP:
        return len(FAMILIES) + 1, "top"
    part = module.split(".")[1]
    if part == "core":
        return 0, "core"
    return FAMILIES.index(part) + 1, part


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {m: _imports(m) for m in sorted(versions.modules())}


def test_every_module_belongs_to_a_layer(graph):
    for module in graph:
        layer(module)  # raises for a module outside core, the families and the top


def test_imports_point_down_the_layers_and_the_dag(graph):
    upward = [f"{m} imports {t}" for m, targets in graph.items() for t in targets
              if layer(t)[0] > layer(m)[0] and layer(m)[1] != "top"]
    assert upward == [], "a lower layer or an earlier stage family imports a later one"


def test_no_import_circles(graph):
    """Depth-first search for a back edge over module imports (a package's __init__ included)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state:
                found = visit(target, path + [module])
                if found:
                    return found
        state[module] = 2
        return None

    for module in graph:
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, " → ".join(cycle[cycle.index(cycle[-1]):])


def test_the_checker_sees_local_and_relative_imports():
    imported = _imports("lra.infer")
    assert {"lra.diffusion.stage", "lra.embed.encoders", "lra.core.devices"} <= imported
    assert "lra.core.chunks" in _imports("lra.embed.stage")
    assert layer("lra.core.files") < layer("lra.data.stage") < layer("lra.report.run") < layer("lra.cli")
