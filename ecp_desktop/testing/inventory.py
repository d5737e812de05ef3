"""An inventory as setup leaves it, for the screenshot scripts and the tests: the tables and
the local host record (the inventory writes nothing before them), without an import."""
from __future__ import annotations

from ecp_desktop.models.db import database
from ecp_desktop.services.setup.startup import open_inventory
from ecp_desktop.services.setup.steps import SetupOptions, SetupRun, step_local_host


def record_local_host(uri: str = "test:///default") -> None:
    """Setup's local host record (no import), on the bound inventory database."""
    with database.connection_context():
        step_local_host(SetupRun(options=SetupOptions(local_uri=uri)))


def set_up_inventory(url: str, local_uri: str = "test:///default"):
    """Open (creating) the inventory at ``url`` and record the local host; the open handle."""
    handle = open_inventory(url)
    record_local_host(local_uri)
    return handle
