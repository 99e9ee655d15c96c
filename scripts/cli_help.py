"""Regenerate, or check, the `--help` blocks of docs/cli.md from the real CLI.

Run: python scripts/cli_help.py            # rewrite docs/cli.md's help blocks
     python scripts/cli_help.py --check    # exit 1 (and name them) if any block is stale
     [--doc FILE]                          # another copy of the reference

Every block of the form

    <details><summary><code>tradefolio COMMAND --help</code></summary>

    ```text
    ...
    ```

gets what `tradefolio COMMAND --help` prints, run in this process at a fixed width of 100
columns without colours (so the text does not depend on the terminal it is run from),
trailing spaces stripped. `tests/unit/test_docs_cli_help.py` runs `--check`, so the
reference cannot drift from the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
WIDTH = 100
BLOCK = re.compile(
    r"(<details><summary><code>tradefolio (?P<command>[^<]+?) --help</code></summary>\n\n"
    r"```text\n)(?P<text>.*?)(\n```)",
    re.DOTALL,
)
# Environment variables that would colour rich's output or change its width.
_STYLE_VARIABLES = ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TTY_COMPATIBLE", "NO_COLOR")


def help_text(command: str) -> str:
    """What `tradefolio COMMAND --help` prints at `WIDTH` columns, lines right-stripped,
    without the blank lines at its end."""
    from tradefolio.cli.app import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        main([*command.split(), "--help"])
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).rstrip("\n")


def render(doc: str) -> str:
    """`doc` with every help block replaced by the real help text."""
    return BLOCK.sub(lambda m: m.group(1) + help_text(m.group("command")) + m.group(4), doc)


def stale_blocks(doc: str) -> list[str]:
    """The commands whose help block in `doc` differs from the real help text."""
    return [
        m.group("command")
        for m in BLOCK.finditer(doc)
        if m.group("text") != help_text(m.group("command"))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale blocks")
    parser.add_argument("--doc", type=Path, default=DOC, help="the reference (docs/cli.md)")
    args = parser.parse_args()
    # Before typer is imported: it reads its width and colour settings at import.
    for name in _STYLE_VARIABLES:
        os.environ.pop(name, None)
    os.environ["COLUMNS"] = os.environ["TERMINAL_WIDTH"] = str(WIDTH)
    doc = args.doc.read_text(encoding="utf-8")
    if not BLOCK.search(doc):
        sys.exit(f"error: no help blocks found in {args.doc}")
    if args.check:
        stale = stale_blocks(doc)
        if stale:
            names = ", ".join(f"tradefolio {c} --help" for c in stale)
            sys.exit(f"error: {args.doc} is stale for {names}; run python scripts/cli_help.py")
        return
    args.doc.write_text(render(doc), encoding="utf-8")


if __name__ == "__main__":
    main()
