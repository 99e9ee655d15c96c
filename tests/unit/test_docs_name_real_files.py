"""The docs describe the present: every module path ARCHITECTURE.md and the package
docstrings name exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tradefolio

PACKAGE_ROOT = Path(tradefolio.__file__).parent
ARCHITECTURE = PACKAGE_ROOT.parents[1] / "ARCHITECTURE.md"
MODULE = re.compile(r"`([a-z_]+(?:/[a-z_]+)*\.py)`")


def _missing(text: str, area: Path) -> list[str]:
    """Module paths in `text` found neither in `area`, the package nor the repository."""
    roots = (area, PACKAGE_ROOT, PACKAGE_ROOT.parents[1])
    return sorted(
        name for name in set(MODULE.findall(text)) if not any((r / name).exists() for r in roots)
    )


def test_every_package_docstring_names_modules_that_exist() -> None:
    # A package's docstring lists its own modules (`backtest/__init__.py` once listed a
    # `strategy.py` that had moved to `execution/`).
    missing = {}
    for init in PACKAGE_ROOT.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if names := _missing(doc, init.parent):
            missing[init.parent.name] = names
    assert missing == {}


def test_each_area_paragraph_of_architecture_names_modules_of_that_area() -> None:
    paragraphs = ARCHITECTURE.read_text().split("\n- `")[1:]
    missing = {}
    for paragraph in paragraphs:
        area = paragraph.split("/`", 1)[0]
        folder = PACKAGE_ROOT / area
        if not folder.is_dir():
            continue
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*.py")}
        present |= {p.name for p in folder.rglob("*.py")}
        # Or a path from the package, `src/` or the repository root.
        roots = (PACKAGE_ROOT, PACKAGE_ROOT.parent, PACKAGE_ROOT.parents[1])
        names = [
            n
            for n in MODULE.findall(paragraph)
            if n not in present and not any((root / n).exists() for root in roots)
        ]
        if names:
            missing[area] = names
    assert len(paragraphs) >= 9 and missing == {}
