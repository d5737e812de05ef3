"""Write docs/cli.md from the command's own --help texts (tests/cli/test_docs.py keeps it current).

    python scripts/render_cli_docs.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def render() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it for a stable file
    from ecp_desktop.cli.main import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    parts = ["# ecp-desktop command line", "",
             "Generated from `ecp-desktop --help` and each `ecp-desktop COMMAND --help` by "
             "`scripts/render_cli_docs.py`.", "", "```", parser.format_help().rstrip(), "```", ""]
    for name, command in sub.choices.items():
        parts += [f"## {name}", "", "```", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    (REPO / "docs" / "cli.md").write_text(render(), encoding="utf-8")
    print("wrote docs/cli.md")
