"""The one-way dependency rule of ARCHITECTURE.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import tradefolio

PACKAGE_ROOT = Path(tradefolio.__file__).parent
#: Lower number = lower layer. An area may import only areas with a lower or equal number.
LAYERS = {
    "errors": 0,
    "data": 1,
    "indicators": 2,
    "portfolio": 3,
    "execution": 4,
    "backtest": 5,
    "live": 5,
    "reporting": 5,
    "research": 6,
    "api": 7,
    "cli": 8,
}
#: Siblings on the same layer that must not import each other.
SIBLINGS_APART = {"backtest": {"live"}, "live": {"backtest"}}


def _area(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE_ROOT)
    return relative.parts[0].removesuffix(".py")


def _imported_areas(module_path: Path) -> set[str]:
    tree = ast.parse(module_path.read_text(), filename=str(module_path))
    areas: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tradefolio" and len(parts) > 1:
                areas.add(parts[1])
    return areas


def test_lower_areas_never_import_higher_ones() -> None:
    violations = []
    for module in PACKAGE_ROOT.rglob("*.py"):
        area = _area(module)
        if area not in LAYERS:
            continue
        for imported in _imported_areas(module):
            if imported not in LAYERS:
                continue
            if LAYERS[imported] > LAYERS[area] or imported in SIBLINGS_APART.get(area, set()):
                violations.append(
                    f"{module.relative_to(PACKAGE_ROOT)} imports tradefolio.{imported}"
                )
    assert violations == []


def test_every_area_is_known() -> None:
    areas = {p.name for p in PACKAGE_ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert areas <= set(LAYERS)
