"""What several test modules share: the test hosts (libvirt test-driver files under
tests/data) and reading the database as another process would. Test modules import
these from here, never from each other or from conftest.py."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
LAB_XML = DATA / "lab.xml"
VIRT_MANAGER_XML = DATA / "virt-manager-4.1.0-testdriver.xml"
LAB_URI = f"test://{LAB_XML}"
VIRT_MANAGER_URI = f"test://{VIRT_MANAGER_XML}"
# a host with a shut-off template machine, a pool with its volumes, and another owner's volume
TEMPLATE_URI = f"test://{DATA / 'template.xml'}"
TPL_UUID = "1c0ffee0-0000-4000-8000-000000000001"
OTHER_UUID = "1c0ffee0-0000-4000-8000-0000000000ff"
# one NAT network and the running machine "test" on it (test:///default's, private to the connection)
NETWORKS_URI = f"test://{DATA / 'networks.xml'}"
# the lab tier's tiny TCG guest (real QEMU)
TINY_XML = (Path(__file__).resolve().parents[1] / "lab" / "tiny-tcg.xml").read_text()


def query(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the database at ``url``, read as another process would, on either
    backend (write booleans as TRUE/FALSE: both understand them)."""
    from playhouse.db_url import connect
    raw = connect(url)
    try:
        raw.connect()
        cursor = raw.execute_sql(sql)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []  # an UPDATE has none
    finally:
        raw.close()
