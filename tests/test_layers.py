"""No package imports one above it (docs/design.md, "Layers"): the test reads every import
statement of the package, including those inside functions, and fails on an upward one."""

from __future__ import annotations

import ast
from pathlib import Path

import ploutos

# Bottom to top; a unit may import units of strictly lower layers only, so units of one layer
# (training and evaluation, for example) never import each other.
LAYERS = (
    ("errors", "io", "market"),
    ("data",),
    ("features",),
    ("obs", "rewards"),
    ("pipeline",),
    ("env",),
    ("models",),
    ("algos",),
    ("config",),
    ("training", "evaluation", "drift"),
    ("ensemble", "dashboards"),
    ("sweeper", "paper"),
    ("studies", "bench"),
    ("apps",),
)
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}
ROOT = Path(ploutos.__file__).parent


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ploutos"


def upward_imports(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        if rel.parts == ("ploutos", "__init__"):
            continue
        src = _unit(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if not target.startswith("ploutos.") or _unit(target) == src:
                    continue
                dst = _unit(target)
                if LAYER_OF[dst] >= LAYER_OF[src]:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {src} -> {dst}")
    return found


def test_every_package_has_a_layer() -> None:
    units = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    units = {u for u in units if not u.startswith("_") and u != "py" and "." not in u}
    units -= {"conf"}  # the config folder: YAML only, nothing to import
    assert units - {"sample"} <= set(LAYER_OF), units - set(LAYER_OF)


def test_no_package_imports_one_above_it() -> None:
    assert upward_imports() == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "ploutos"
    (pkg / "data").mkdir(parents=True)
    (pkg / "data" / "leak.py").write_text("from ploutos.evaluation import run_backtest\n")
    assert upward_imports(pkg) == ["ploutos/data/leak.py:1 data -> evaluation"]
