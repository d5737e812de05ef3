"""Shared fixtures: offscreen Qt, one qasync loop for the session, a database per test,
and the app's services built by the same composition root as the GUI."""
from __future__ import annotations

import asyncio
import os

import tempfile  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
# Settings, data and logs of the app under test never touch the real user's directories.
_HOME = tempfile.mkdtemp(prefix="ecp-test-home-")
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_var] = os.path.join(_HOME, _var.lower())

import pytest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402,F401  (PySide6 before qasync)
import qasync  # noqa: E402

from ecp_desktop.services.composition import build_services  # noqa: E402
from ecp_desktop.services.core.aio import spawn  # noqa: E402
from ecp_desktop.services.hosts.libvirt_loop import register_event_impl  # noqa: E402
from ecp_desktop.services.setup.startup import open_inventory  # noqa: E402
from ecp_desktop.testing.hostgen import write_host  # noqa: E402

from .helpers import DATA, LAB_URI, TEMPLATE_URI, VIRT_MANAGER_URI  # noqa: E402,F401  (fixtures below use them)

register_event_impl()  # before any test opens a connection, as the app does


@pytest.fixture(scope="session")
def event_loop_qt(qapp):
    """One qasync loop for the session (a per-test one does not work with pytest-qt)."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop


@pytest.fixture
def run(qtbot, event_loop_qt):
    """Run a coroutine on the Qt loop and return its result, spinning Qt while waiting."""
    def runner(coro, timeout: float = 10.0):
        task = spawn(coro)
        qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        return task.result()
    return runner


@pytest.fixture
def model_tester(request):
    """A fresh pytest-qt ModelTester per call: one tester follows exactly one model's signals."""
    from pytestqt.modeltest import ModelTester
    testers = []

    def check(model):
        tester = ModelTester(request.config)
        tester.check(model, force_py=True)
        testers.append(tester)
        return tester
    yield check
    for tester in testers:
        tester._cleanup()


BACKEND = os.environ.get("ECP_TEST_BACKEND", "sqlite")  # test.sh runs the suite with each


def pytest_collection_modifyitems(config, items):
    if BACKEND == "postgresql":
        skip = pytest.mark.skip(reason="about the SQLite file itself (marked sqlite_only)")
        marker = "sqlite_only"
    else:
        skip = pytest.mark.skip(reason="about a PostgreSQL server (marked postgresql_only; the PostgreSQL run has it)")
        marker = "postgresql_only"
    for item in items:
        if marker in item.keywords:
            item.add_marker(skip)


def _postgres_admin():
    import psycopg2
    from urllib.parse import urlparse
    base = os.environ.get("ECP_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("ECP_TEST_BACKEND=postgresql needs ECP_TEST_POSTGRES_URL (test.sh starts a server)")
    p = urlparse(base)
    conn = psycopg2.connect(host=p.hostname, port=p.port, user=p.username, dbname=p.path.strip("/"))
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return conn, base.rsplit("/", 1)[0]


@pytest.fixture
def db_url(tmp_path):
    """A fresh, empty inventory database for the test, on the backend of this run."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
        return
    import uuid
    admin, server = _postgres_admin()
    name = f"ecp_t_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        from ecp_desktop.models.db import database
        if database.obj is not None and not database.is_closed():
            database.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()




@pytest.fixture
def db(db_url):
    """The inventory as setup leaves it (tables and the local host record: the inventory writes
    nothing before them); ``fresh_db`` is one before setup."""
    from .helpers.inventory import record_local_host
    handle = open_inventory(db_url)
    record_local_host()
    yield handle
    handle.close()


@pytest.fixture
def fresh_db(db_url):
    """A database file that does not exist yet, bound but without tables: setup makes them."""
    from ecp_desktop.models.db import open_database
    handle = open_database(db_url)
    yield handle
    handle.close()


@pytest.fixture
def services(db, event_loop_qt):
    built = build_services()
    yield built
    built.shutdown()


@pytest.fixture
def template_host(services, run):
    """The template host (tests/data/template.xml: a template, pools, volumes), connected and listed."""
    host = services.inventory.add_host(TEMPLATE_URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return host


@pytest.fixture
def fleet_uri(tmp_path):
    """A private test-driver host with 300 machines."""
    return write_host(tmp_path / "fleet.xml", 300, seed=3, prefix="fleet-")


@pytest.fixture(autouse=True)
def no_dangling_connections_to_default():
    """test:///default is shared by the whole process while any connection to it is open (a
    closed app's connections close in the background): its one machine is put back running
    after each test, so no test inherits another's stopped or paused "test"; a machine added
    and left there fails the test that left it."""
    yield
    import libvirt
    conn = libvirt.open("test:///default")
    try:
        names = sorted(d.name() for d in conn.listAllDomains())
        machine = conn.lookupByName("test") if "test" in names else None
        if machine is not None and machine.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            machine.resume()
        elif machine is not None and not machine.isActive():
            machine.create()
        assert names == ["test"], f"test:///default was left changed: {names}"
    finally:
        conn.close()


@pytest.fixture
def window(qtbot, run, services, fleet_uri, tmp_path):
    """The main window over a 300-machine host and the lab host, every row present."""
    from PySide6.QtCore import QSettings

    from ecp_desktop.services.setup.startup import connect_initial_hosts
    from ecp_desktop.views.window.main_window import MainWindow
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(services, settings)
    qtbot.addWidget(win)
    win.show()
    run(connect_initial_hosts(services.inventory, [fleet_uri, LAB_URI]))
    qtbot.waitUntil(lambda: win.machine_model.rowCount() == 304, timeout=10000)
    return win


@pytest.fixture
def pg_url():
    """The PostgreSQL server ./test.sh started, emptied (fails in CI when absent)."""
    import peewee
    url = os.environ.get("ECP_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("ECP_TEST_POSTGRES_URL is not set: CI must provide the PostgreSQL tier")
        pytest.skip("no PostgreSQL server (run ./test.sh, which starts one)")
    raw = peewee.PostgresqlDatabase(None)
    raw.init(url.rsplit("/", 1)[1], **_params(url))
    with raw.connection_context():
        raw.execute_sql("DROP SCHEMA public CASCADE")
        raw.execute_sql("CREATE SCHEMA public")
    return url


def _params(url):
    from urllib.parse import urlparse
    p = urlparse(url)
    return {"host": p.hostname, "port": p.port, "user": p.username}
