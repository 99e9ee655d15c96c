"""The one-way dependency rule of ARCHITECTURE.md, checked on every module's imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tradefolio

PACKAGE_ROOT = Path(tradefolio.__file__).parent
#: Lower number = lower layer. An area may import only areas with a lower or equal number.
LAYERS = {
    "errors": 0,
    "extras": 0,
    "collector": 0,
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
#: `reporting` reads backtest results and the live journal; neither engine reads a report.
SIBLINGS_APART = {"backtest": {"live", "reporting"}, "live": {"backtest", "reporting"}}


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


def _module_name(path: Path) -> str:
    parts = ("tradefolio", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _under_type_checking(tree: ast.Module) -> set[int]:
    """Ids of import nodes inside `if TYPE_CHECKING:` (annotations only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def _import_graph() -> dict[str, set[str]]:
    """Module -> the tradefolio modules it imports at run time (lazy imports included)."""
    paths = {_module_name(p): p for p in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skipped = _under_type_checking(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:
                    # `from pkg import module` imports the module; otherwise a name of pkg.
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in paths else base)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_modules() -> None:
    # A package's `__init__` that re-exports its modules is imported *by* them as their
    # parent; only imports written in the code count, lazy ones (inside functions) too.
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


# -- the journal's tables are the journal module's own ----------------------------------

#: The modules that may run SQL on the journal's tables: its API, its schema, its file.
JOURNAL_SQL = {"live/journal.py", "live/journal_schema.py", "live/journal_file.py"}
#: Besides them, `sqlite3` is for the paper venue (its own ``paper_*`` tables share the
#: journal's file) and the session (which turns SQLite errors into one `JournalError` line
#: and hands the journal's connection to the paper venue).
SQLITE_IMPORTERS = JOURNAL_SQL | {"live/paper.py", "live/session.py"}
CONNECTION_READERS = JOURNAL_SQL | {"live/session.py"}
_SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(\w+)|table_info\((\w+)\)")


def _docstrings(tree: ast.Module) -> set[int]:
    """Ids of the docstring constants (prose, not SQL) of a module and its definitions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _imports_sqlite3(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == "sqlite3" for alias in node.names)
    return isinstance(node, ast.ImportFrom) and node.module == "sqlite3"


def journal_sql_uses(source: str, tables: frozenset[str]) -> list[str]:
    """What a module's code does with the journal's storage: SQL text naming one of
    `tables`, an `import sqlite3`, a read of an object's `.connection`."""
    tree = ast.parse(source)
    skipped = _docstrings(tree)
    uses: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in skipped:
                continue
            for match in _SQL_TABLE.finditer(node.value):
                table = match.group(1) or match.group(2)
                if table in tables:
                    uses.append(f"SQL on {table}")
        elif _imports_sqlite3(node):
            uses.append("import sqlite3")
        elif isinstance(node, ast.Attribute) and node.attr == "connection":
            uses.append(".connection")
    return uses


def test_only_the_journal_module_runs_sql_on_the_journal() -> None:
    # Reporting, the CLI and the trader read and write the journal through `Journal`'s
    # methods; its schema can then change in one module (`journal_schema`) without a
    # reader elsewhere breaking on an old or a new file.
    from tradefolio.live.journal_schema import JOURNAL_TABLES

    violations = []
    for module in sorted(PACKAGE_ROOT.rglob("*.py")):
        name = module.relative_to(PACKAGE_ROOT).as_posix()
        for use in journal_sql_uses(module.read_text(), JOURNAL_TABLES):
            allowed = (
                JOURNAL_SQL
                if use.startswith("SQL")
                else SQLITE_IMPORTERS
                if use == "import sqlite3"
                else CONNECTION_READERS
            )
            if name not in allowed:
                violations.append(f"{name}: {use}")
    assert violations == []


def test_the_journal_sql_check_sees_sql_on_the_journal() -> None:
    tables = frozenset({"bars", "fills", "orders"})
    source = '''
"""Reads the bars FROM bars (prose: not SQL)."""
import sqlite3
def read(journal):
    """Turns the rows INTO fills (prose)."""
    db = journal.connection
    db.execute("SELECT bar FROM bars WHERE done_at IS NOT NULL")
    db.execute(f"SELECT {1} FROM fills f JOIN orders o ON o.id = f.id")
    db.execute("PRAGMA table_info(fills)")
    db.execute("SELECT * FROM paper_orders")
'''
    assert sorted(journal_sql_uses(source, tables)) == [
        ".connection",
        "SQL on bars",
        "SQL on fills",
        "SQL on fills",
        "SQL on orders",
        "import sqlite3",
    ]
