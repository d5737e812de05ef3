"""An inventory set up from the lab host, and its machines' UUIDs by name."""
from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.services.setup.steps import SetupOptions, run_setup

from ecp_desktop.testing.inventory import record_local_host  # noqa: F401  (the db fixture's)

from . import LAB_URI


def uuid_of(name):
    with database.connection_context():
        return schema.Machine.get(schema.Machine.name == name).uuid


def set_up(db):
    assert run_setup(SetupOptions(connections=[LAB_URI], local_uri="test:///default"), hooks=HookRegistry()).ok
