"""Files of this user's that name a database or a host (the settings, the approved hosts): each
written whole or not at all (a crash leaves the old one) and readable by this user only."""
from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, mode 0600 (its folder made 0700 when missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)  # a .tmp left by an older version may have been made wider
    os.replace(tmp, path)
