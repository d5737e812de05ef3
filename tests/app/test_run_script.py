"""scripts/setup.sh (what ./run.sh runs before it opens the app) says nothing when nothing needs
installing: a test install counts for the app. Run on a copy whose Debian packages and .venv are stand-ins
(a dpkg-query that finds every package, a .venv/bin/python that records its calls): no
network, no root."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dpkg-query").write_text("#!/bin/sh\nprintf 'install ok installed'\n")
    venv_python = repo / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path / 'pip-calls'}\n")
    for script in (tools / "dpkg-query", venv_python):
        script.chmod(0o755)
    return repo


def setup(repo: Path, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{repo.parent / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), mode], capture_output=True, text=True,
                          env=env, timeout=60)


def pip_calls(repo: Path) -> list[str]:
    calls = repo.parent / "pip-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_after_a_test_install_the_app_needs_nothing_and_says_nothing(tmp_path):
    repo = checkout(tmp_path)
    first = setup(repo, "test")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["setup: installing ecp-desktop[test] into .venv"]
    assert pip_calls(repo) == ["-m pip install -q -e .[test]"]
    for mode in ("app", "test"):
        again = setup(repo, mode)
        assert (again.returncode, again.stdout, again.stderr) == (0, "", ""), mode
    assert len(pip_calls(repo)) == 1, "nothing installed again"


def test_a_changed_pyproject_installs_once_more(tmp_path):
    repo = checkout(tmp_path)
    assert setup(repo, "test").returncode == 0
    earlier = (repo / "pyproject.toml").stat().st_mtime - 10  # pyproject.toml changed since that install
    os.utime(repo / ".venv" / ".ecp-installed-test", (earlier, earlier))
    changed = setup(repo, "app")
    assert changed.stdout.splitlines() == ["setup: installing ecp-desktop into .venv"]
    assert setup(repo, "app").stdout == ""
    assert pip_calls(repo)[1:] == ["-m pip install -q -e ."]
