"""docs/cli.md is the command's own --help, current; every sub-command explains itself."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))


def test_docs_match_the_help():
    from render_cli_docs import render
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == render(), \
        "docs/cli.md is stale: run python scripts/render_cli_docs.py"


def test_every_command_has_a_description_and_version_prints():
    from ecp_desktop.cli.main import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, command in sub.choices.items():
        assert command.description and len(command.description) > 15, name
    version = subprocess.run([sys.executable, "-m", "ecp_desktop", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == "ecp-desktop 0.1.0"
