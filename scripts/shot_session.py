"""What the screenshot scripts share: a private home, libvirt's event loop, Qt and qasync."""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import qasync

from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
from ecp_desktop.views.common.qt_process import make_qt_app


def run_shoot(shoot, out: Path) -> int:
    """Run ``shoot(out, work, app)`` on a qasync loop, in a private home under ``work``: the
    approvals, settings and logs of the run touch nothing of the user's."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            os.environ[variable] = str(work / variable.lower())
        register_event_impl()
        app = make_qt_app(sys.argv[:1])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            loop.run_until_complete(shoot(out, work, app))
    return 0
