"""The shared inventory's roles (packaging/postgresql-roles.sql): an operator role that can
only read and write rows runs every command; it cannot change the schema."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROLES_SQL = Path(__file__).resolve().parents[2] / "packaging" / "postgresql-roles.sql"
pytestmark = [pytest.mark.postgres, pytest.mark.postgresql_only]


def ecp(url, *args, password=None):
    env = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", url, *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_an_operator_role_runs_the_app_and_cannot_change_the_schema():
    import psycopg2
    base = os.environ.get("ECP_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("the PostgreSQL tier is missing (ECP_TEST_POSTGRES_URL)")
    p = urlparse(base)
    suffix = uuid.uuid4().hex[:8]
    names = {"ecp_inventory": f"ecp_inv_{suffix}", "ecp_owner": f"ecp_own_{suffix}",
             "ecp_operator": f"ecp_op_{suffix}"}
    admin = psycopg2.connect(host=p.hostname, port=p.port, user=p.username, dbname=p.path.strip("/"))
    admin.autocommit = True
    sql = ROLES_SQL.read_text()
    for generic, real in names.items():
        sql = sql.replace(generic, real)
    before_connect, after_connect = sql.split("\\connect ")
    after_connect = after_connect.split("\n", 1)[1]
    server = f"{p.hostname}:{p.port}"
    try:
        with admin.cursor() as cur:
            for statement in _statements(before_connect):
                cur.execute(statement)
        db = psycopg2.connect(host=p.hostname, port=p.port, user=p.username, dbname=names["ecp_inventory"])
        db.autocommit = True
        statements = _statements(after_connect)
        grants = [s for s in statements if "ALL TABLES" in s or "ALL SEQUENCES" in s]  # once the tables exist
        with db.cursor() as cur:
            for statement in statements:
                if statement not in grants:
                    cur.execute(statement)
            cur.execute(f"ALTER ROLE {names['ecp_operator']} PASSWORD 'op-secret'")
            cur.execute(f"ALTER ROLE {names['ecp_owner']} PASSWORD 'own-secret'")
        owner_url = f"postgresql://{names['ecp_owner']}@{server}/{names['ecp_inventory']}"
        done = ecp(owner_url, "--connect", "test:///default", "setup", password="own-secret")
        assert done.returncode == 0, done.stdout + done.stderr
        with db.cursor() as cur:
            for statement in grants:
                cur.execute(statement)
        db.close()
        operator_url = f"postgresql://{names['ecp_operator']}@{server}/{names['ecp_inventory']}"
        for command in (["machines"], ["pause", "test"], ["force-off", "test"], ["tasks"], ["finish-interrupted"],
                        ["restore", "--dry-run"], ["notes", "test", "--set", "from an operator"]):
            done = ecp(operator_url, "--connect", "test:///default", *command, password="op-secret")
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        as_operator = psycopg2.connect(host=p.hostname, port=p.port, user=names["ecp_operator"],
                                       password="op-secret", dbname=names["ecp_inventory"])
        try:
            with as_operator.cursor() as cur, pytest.raises(psycopg2.Error, match="must be owner|permission denied"):
                cur.execute("DROP TABLE machine")
        finally:
            as_operator.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {names['ecp_inventory']} WITH (FORCE)")
            for role in (names["ecp_operator"], names["ecp_owner"]):
                cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
