"""The shared inventory's roles (packaging/postgresql-roles.sql): an operator role that can
only read and write rows runs every command; it cannot change the schema, nor make a table
in advance (in public or in the app's schema) that a later upgrade would use; an upgrade
refuses a table another role owns."""
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
        with db.cursor() as cur:
            for statement in _statements(after_connect):
                cur.execute(statement)
            cur.execute(f"ALTER ROLE {names['ecp_operator']} PASSWORD 'op-secret'")
            cur.execute(f"ALTER ROLE {names['ecp_owner']} PASSWORD 'own-secret'")
            # A table made in advance by another role (here the operator's, made by the
            # superuser: the operator itself may create none): the owner's setup refuses it.
            cur.execute(f"CREATE TABLE ecp.task (id integer); ALTER TABLE ecp.task OWNER TO {names['ecp_operator']}")
        owner_url = f"postgresql://{names['ecp_owner']}@{server}/{names['ecp_inventory']}"
        refused = ecp(owner_url, "--connect", "test:///default", "setup", password="own-secret")
        assert refused.returncode != 0 and f"table task belongs to role {names['ecp_operator']}" in (
            refused.stdout + refused.stderr), refused.stdout + refused.stderr
        with db.cursor() as cur:
            cur.execute("DROP TABLE ecp.task")
        done = ecp(owner_url, "--connect", "test:///default", "setup", password="own-secret")
        assert done.returncode == 0, done.stdout + done.stderr
        with db.cursor() as cur:  # the app's tables are in the owner's schema, owned by it
            cur.execute("SELECT DISTINCT schemaname, tableowner FROM pg_tables WHERE tablename = 'machine'")
            assert cur.fetchall() == [("ecp", names["ecp_owner"])]
        db.close()
        operator_url = f"postgresql://{names['ecp_operator']}@{server}/{names['ecp_inventory']}"
        for command in (["machines"], ["pause", "test"], ["force-off", "test"], ["tasks"], ["finish-interrupted"],
                        ["restore", "--dry-run"], ["notes", "test", "--set", "from an operator"]):
            done = ecp(operator_url, "--connect", "test:///default", *command, password="op-secret")
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        as_operator = psycopg2.connect(host=p.hostname, port=p.port, user=names["ecp_operator"],
                                       password="op-secret", dbname=names["ecp_inventory"])
        as_operator.autocommit = True
        try:
            for statement in ("DROP TABLE machine", "CREATE TABLE public.task (id integer)",
                              "CREATE TABLE ecp.setting2 (id integer)"):
                with as_operator.cursor() as cur, pytest.raises(psycopg2.Error,
                                                                match="must be owner|permission denied"):
                    cur.execute(statement)
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
