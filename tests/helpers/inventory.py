"""An inventory set up from the lab host, and its machines' UUIDs by name."""
from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.services.setup.steps import SetupOptions, run_setup

from . import LAB_URI


def record_local_host(uri="test:///default"):
    """Setup's local host record (no import): the inventory records machines only after it."""
    from ecp_desktop.services.setup.steps import SetupRun, step_local_host
    with database.connection_context():
        step_local_host(SetupRun(options=SetupOptions(local_uri=uri)))


def uuid_of(name):
    with database.connection_context():
        return schema.Machine.get(schema.Machine.name == name).uuid


def set_up(db):
    assert run_setup(SetupOptions(connections=[LAB_URI], local_uri="test:///default"), hooks=HookRegistry()).ok
