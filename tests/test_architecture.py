"""The architecture, checked from the source. import-linter's contracts (pyproject.toml,
run by .ci/run and below) keep the layers and the Qt-free core; this file checks what they
cannot: no module imports another module's _private name, no import circles (counting
TYPE_CHECKING imports), modules of a reasonable size, and that the headless commands load no Qt."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ecp_desktop"
LOOK_AT_LINES = 600


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _source_module(mods: dict[str, Path], module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if mods[module].name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (TYPE_CHECKING blocks included: a circle
    through them is still a circle for a reader and for a type checker)."""
    found = []

    def walk(body):
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.If, ast.Try)):
                walk(node.body)
                walk(getattr(node, "orelse", []))
                walk(getattr(node, "finalbody", []))
                for handler in getattr(node, "handlers", []):
                    walk(handler.body)
    walk(tree.body)
    return found


def test_no_module_imports_another_modules_private_names():
    mods = _modules()
    offenders = []
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                source = _source_module(mods, module, node)
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and source in mods and source != module:
                        offenders.append(f"{module} imports {alias.name} from {source}")
    assert not offenders, "\n".join(offenders)


def test_no_import_circles():
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in _module_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges[module] |= {a.name for a in node.names if a.name in mods}
                continue
            source = _source_module(mods, module, node)
            for alias in node.names:
                target = f"{source}.{alias.name}" if f"{source}.{alias.name}" in mods else source
                if target in mods and target != module and not module.startswith(target + "."):
                    edges[module].add(target)
    # a depth-first search that reports the first circle it meets from each module
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(trail[trail.index(nxt):] + [node, nxt]) if nxt in trail
                               else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2
    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert not circles, "\n".join(circles)


def test_long_modules_have_been_looked_at():
    """One concept per module, cut by cohesion, never by a line count: a module past
    LOOK_AT_LINES is a reason to look for a second concept in it, and once looked at it is
    listed (with its one concept) in the architecture document; it is never split for size."""
    looked_at = (ROOT / "docs" / "architecture.md").read_text()
    long = [f"{path.relative_to(PACKAGE)}: {n} lines" for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > LOOK_AT_LINES
            and str(path.relative_to(PACKAGE)) not in looked_at]
    assert not long, ("look for a second concept in these, then list each in docs/architecture.md "
                      "(Long modules) with the one concept it holds:\n" + "\n".join(long))


# Parsing or writing libvirt XML is the vocabulary's (services/libvirt_xml); these read other XML
# and say why: libosinfo's database files (only read), and the test-host generator, which writes
# libvirt test-driver files of 10,000 machines as text for the benchmarks' speed.
XML_OUTSIDE_VOCABULARY = {"services/provisioning/osinfo.py", "testing/hostgen.py", "testing/far_hosts.py"}
XML_MODULES = ("xml.etree", "xml.dom", "xml.sax", "lxml", "xml.parsers")


def test_only_the_vocabulary_parses_or_writes_libvirt_xml():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = str(path.relative_to(PACKAGE))
        if relative.startswith("services/libvirt_xml/") or relative in XML_OUTSIDE_VOCABULARY:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{relative}: imports {n}" for n in names if n.startswith(XML_MODULES)]
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings and \
                    re.search(r"<(domain|disk|interface|volume|pool|network|domainsnapshot|graphics)[\s>/]",
                              node.value):
                offenders.append(f"{relative}:{node.lineno}: writes libvirt XML as text")
    assert not offenders, "\n".join(offenders)


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports is not installed (it is a test dependency: ./test.sh installs it)")
    done = subprocess.run([lint], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_headless_command_loads_no_qt(tmp_path):
    """Import what the CLI runs and check that no Qt module got loaded along the way."""
    code = (
        "import sys, ecp_desktop.cli.main, ecp_desktop.cli.listing, ecp_desktop.cli.lifecycle, "
        "ecp_desktop.cli.tasks, ecp_desktop.cli.migrate, ecp_desktop.cli.restore, "
        "ecp_desktop.services.composition\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_ships_in_the_wheel():
    """pyproject.toml names the packages (resources/ is mapped in): a new package must be listed."""
    import tomllib
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"]) - {"ecp_desktop.resources"}
    on_disk = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert listed == on_disk
    assert "ecp_desktop.resources" in config["packages"]  # the desktop entry, metainfo and icons ship too
    assert (PACKAGE.parent / config["package-dir"]["ecp_desktop.resources"] / "applications").is_dir()


def test_the_architecture_document_names_every_package():
    tree = (ROOT / "docs" / "architecture.md").read_text().split("```")[1]
    packages = sorted(init.parent for init in PACKAGE.rglob("__init__.py") if init.parent != PACKAGE)
    missing = [str(p.relative_to(PACKAGE)) for p in packages if f" {p.name}/" not in tree]
    assert not missing, "docs/architecture.md's tree leaves out: " + ", ".join(missing)


def test_only_the_models_know_which_database_backend_runs():
    """The SQL dialect lives behind models/ (models/dialect.py): services never ask which backend."""
    asking = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
              if not str(path.relative_to(PACKAGE)).startswith("models/")
              and re.search(r"\bis_postgres\b|PostgresqlDatabase|import psycopg2|from psycopg2", path.read_text())]
    assert not asking, "ask models.dialect instead: " + ", ".join(asking)


def test_the_tests_mirror_the_package():
    """tests/<package path>/test_<what>.py for the code under ecp_desktop/<package path>/ (qutebrowser's
    layout); tests/lab (real daemons), tests/helpers and this file stay where they are."""
    tests = ROOT / "tests"
    stray = []
    for path in tests.rglob("test_*.py"):
        folder = path.parent.relative_to(tests)
        if folder.parts[:1] == ("lab",) or path == Path(__file__).resolve():
            continue
        mirrored = PACKAGE / folder if folder.parts != ("app",) else PACKAGE / "app.py"
        if not folder.parts or not mirrored.exists():
            stray.append(str(path.relative_to(tests)))
    assert not stray, "put these beside the package they test: " + ", ".join(stray)
