"""The package's layers: imports go one way, with no cycles, function-local imports included.

Data flows data → core → training → runs → evaluate / experiments → estimators →
report → cli. A module may import its own layer or a lower one, never a higher one.
The graph is read from the source with `ast`, so an import hidden inside a
function counts the same as one at the top of a file.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vaelab"

# module prefix -> layer; the longest matching prefix wins
LAYERS = {
    "vaelab.errors": 0,
    "vaelab._version": 0,
    "vaelab._config": 0,
    "vaelab._atomic": 0,
    "vaelab._machine": 0,
    "vaelab._tensorfile": 0,
    "vaelab.data": 1,
    "vaelab.core": 2,
    "vaelab.training": 3,
    "vaelab.runs": 4,
    "vaelab.evaluate": 5,
    "vaelab.experiments": 5,
    "vaelab.estimators": 6,
    "vaelab.report": 7,
    "vaelab.cli": 8,
    "vaelab.__main__": 8,
    # the documented public paths: re-exports for users, never imported from inside
    "vaelab": 9,
    "vaelab.models": 9,
    "vaelab.train": 9,
    "vaelab.io": 9,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, modules: dict[str, Path]) -> str:
    while name not in modules:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every vaelab module that ``module`` imports, at any depth of its code."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found |= {_resolve(n, modules) for n in names if n == "vaelab" or n.startswith("vaelab.")}
    found.discard(module)
    return found


def layer(module: str) -> int:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)]


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def test_every_module_has_a_layer():
    unknown = [m for m in _modules() if not any(m == p or m.startswith(p + ".") for p in LAYERS)]
    assert unknown == []


def test_imports_go_one_way():
    upward = sorted(
        f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
        for m, targets in graph().items()
        for t in targets
        if layer(t) > layer(m)
    )
    assert upward == []


def test_no_import_cycles():
    g = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_function_local_and_relative_imports(tmp_path):
    source = "def f():\n    from vaelab.cli import main\n    from . import _config\n"
    path = PACKAGE / "core" / "_probe.py"
    tree = {
        "vaelab.core._probe": path,
        "vaelab.cli": PACKAGE / "cli" / "__init__.py",
        "vaelab.core": PACKAGE / "core" / "__init__.py",
        "vaelab": PACKAGE / "__init__.py",
    }
    probe = tmp_path / "_probe.py"
    probe.write_text(source)
    found = _imports("vaelab.core._probe", probe, tree)
    assert found == {"vaelab.cli", "vaelab.core"}
    assert layer("vaelab.cli") > layer("vaelab.core._probe")


@pytest.mark.parametrize(
    "path, name",
    [
        ("vaelab", "VAE"),
        ("vaelab", "Autoencoder"),
        ("vaelab", "load"),
        ("vaelab.data", "load_dataset"),
        ("vaelab.models", "ModelConfig"),
        ("vaelab.models", "build_model"),
        ("vaelab.train", "TrainConfig"),
        ("vaelab.train", "fit"),
        ("vaelab.io", "load_model"),
        ("vaelab.io", "save_model"),
    ],
)
def test_the_documented_public_paths_still_work(path, name):
    assert getattr(importlib.import_module(path), name) is not None


def test_the_readme_layout_matches_the_tree():
    readme = (PACKAGE.parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    named = set()
    for line in block.splitlines():
        first = line.strip().split("  ")[0]
        named |= {n.strip() for n in first.split(",") if n.strip().endswith((".py", "/"))}
    named.discard("src/vaelab/")
    named.discard("benchmarks/")
    missing = sorted(n for n in named if not (PACKAGE / n.rstrip("/")).exists())
    assert missing == []
    packages = {p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert sorted((packages | modules) - named) == []
