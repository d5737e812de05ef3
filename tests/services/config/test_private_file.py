"""Files that name a database or a host are this user's alone (0600), also when an older
version left them readable by others."""
from __future__ import annotations

import stat

from ecp_desktop.services.config import app_config, approved_hosts


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_settings_and_the_approved_hosts_are_readable_by_this_user_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # this test's own settings
    path = app_config.config_path()
    assert str(path).startswith(str(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"database_url": "postgresql://ops@db.example:5432/inventory"}\n')
    path.chmod(0o644)  # as an earlier version wrote it
    app_config.save(database_url="postgresql://ops@db.example:5432/inventory")
    approved_hosts.approve(["qemu+ssh://root@far.example/system"])
    assert _mode(path) == 0o600 and _mode(approved_hosts.list_path()) == 0o600
    assert app_config.load()["database_url"].endswith("/inventory")
    assert "qemu+ssh://root@far.example/system" in approved_hosts.approved()
