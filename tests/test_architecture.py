"""The Qt-free core: models/ and services/ never import Qt, so headless commands work."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecp_desktop"
QT_FREE = ["models", "services", "testing", "cli", "__main__.py"]
FORBIDDEN = ("PySide6", "qasync", "shiboken6")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno


def test_core_modules_do_not_import_qt():
    offenders = []
    for entry in QT_FREE:
        target = PACKAGE / entry
        files = [target] if target.is_file() else sorted(target.rglob("*.py"))
        assert files, f"nothing found under {target}"
        for file in files:
            for module, line in _imports(file):
                if module.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{file.relative_to(PACKAGE)}:{line} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_headless_command_loads_no_qt(tmp_path):
    """Import what the CLI runs and check that no Qt module got loaded along the way."""
    code = (
        "import sys, ecp_desktop.cli.main, ecp_desktop.cli.listing, ecp_desktop.services.inventory.live, "
        "ecp_desktop.services.actions.lifecycle, ecp_desktop.services.actions.host_actions, "
        "ecp_desktop.services.setup.startup\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
