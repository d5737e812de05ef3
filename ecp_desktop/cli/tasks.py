"""Headless task commands: ``clone-template``, ``tasks`` and ``recover`` (no Qt)."""
from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import TextIO

from .listing import bad_uri
from ..services.composition import Services, build_services
from ..services.sharing import heartbeat
from ..services.core.aio import spawn
from ..services.core.errors import install_quiet_error_handler
from ..services.core.executors import Executors
from ..services.setup.startup import HostChoice, initial_hosts
from ..services.tasks.recovery import RecoveryReport, recover
from ..services.tasks.service import SUCCEEDED, TaskRecord, build_trees
from ..services.tasks import store as task_store
from ..services.actions.templates import PlanError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3


def _services() -> Services:
    return build_services(Executors(), keepalive=False, events=False, reconnect=False, auto_load=False)


async def _connect(services: Services, connect: list[str], *, load: bool) -> list:
    choices = [HostChoice(uri) for uri in connect] or initial_hosts()
    hosts = [services.inventory.add_host(c.uri, label=c.label, is_demo=c.is_demo) for c in choices]
    connected = await asyncio.gather(*(services.inventory.connect_host(h) for h in hosts))
    if load:
        await asyncio.gather(*(services.inventory.load_host(h) for h, ok in zip(hosts, connected, strict=True)
                               if ok))
    return hosts


def _report_recovery(report: RecoveryReport, err: TextIO) -> None:
    for line in report.lines():
        print(f"ecp-desktop: recovered an interrupted task: {line}", file=err)


def _close(services: Services) -> None:
    services.executors.database.submit(lambda: None).result()  # the task history is written
    try:
        services.executors.database.submit(heartbeat.leave).result(timeout=5)
    except Exception:  # noqa: BLE001  (no heartbeat table before setup; a database gone)
        pass
    services.inventory.close_all()
    services.executors.shutdown()


def clone_template(template: str, count: int, pattern: str, start: bool, host_uri: str | None,
                   connect: list[str], as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if bad_uri(connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = _services()

    async def go() -> int:
        beating = spawn(heartbeat.keep_beating(services.executors.database))  # noqa: F841 (held while it runs)
        hosts = await _connect(services, connect or ([host_uri] if host_uri else []), load=True)
        _report_recovery(await recover(services.engine), err)
        matches = [m for m in services.inventory.machines.values()
                   if template in (m.name, m.uuid) and (host_uri is None or m.host_uri == host_uri)]
        if not matches:
            down = [h.uri for h in hosts if not h.connected]
            print(f"ecp-desktop: no machine named {template!r} on the connected hosts"
                  + (f" ({', '.join(down)} not connected)" if down else ""), file=err)
            return EXIT_CONNECTION if down else EXIT_USAGE
        if len(matches) > 1:
            print(f"ecp-desktop: {template!r} is on several hosts ({', '.join(m.host_uri for m in matches)}); "
                  "name one with --host URI", file=err)
            return EXIT_USAGE
        machine = matches[0]
        try:
            flow = await services.templates.plan(machine.host_uri, machine.uuid, count, pattern, start=start)
        except PlanError as exc:
            print(f"ecp-desktop: {exc}", file=err)
            return EXIT_USAGE
        root = await services.templates.run(flow)
        _print_tree([root], as_json, out)
        return EXIT_OK if root.status == SUCCEEDED else EXIT_FAILED

    try:
        return asyncio.run(go())
    finally:
        _close(services)


def recover_now(connect: list[str], as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Finish (roll back) what a crashed instance left in flight; exit 3 if a host was unreachable."""
    install_quiet_error_handler()
    services = _services()

    async def go() -> RecoveryReport:
        await _connect(services, connect, load=False)
        return await recover(services.engine)
    try:
        report = asyncio.run(go())
    finally:
        _close(services)
    if as_json:
        json.dump(report.as_json(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        for line in report.lines() or ["nothing to recover"]:
            print(line, file=out)
    return EXIT_CONNECTION if report.waiting else EXIT_OK


def list_tasks(limit: int, as_json: bool, out: TextIO = sys.stdout) -> int:
    roots, _records = build_trees(task_store.recent_trees(limit), itertools.count(1))
    _print_tree(roots, as_json, out)
    return EXIT_OK


def task_json(record: TaskRecord) -> dict:
    data = {
        "id": record.db_id, "kind": record.kind, "title": record.title, "status": record.status,
        "reason": record.reason, "host": record.host_uri, "target": record.target_name,
        "progress": record.progress, "attempts": record.attempts,
        "started": record.started_at.isoformat(timespec="seconds") if record.started_at else None,
        "finished": record.finished_at.isoformat(timespec="seconds") if record.finished_at else None,
        "outcome": record.outcome,
    }
    if record.error is not None:
        data["error"] = dict(record.error.fields())
    if record.children:
        data["children"] = [task_json(c) for c in record.children]
    return data


def _print_tree(roots: list[TaskRecord], as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump([task_json(r) for r in roots], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return

    def line(record: TaskRecord, depth: int) -> None:
        when = record.started_at.strftime("%Y-%m-%d %H:%M:%S") if record.started_at else "-"
        tag = " [rollback]" if record.reason == "rollback" else ""
        print(f"{'  ' * depth}{record.title}{tag}\t{record.status}\t{when}\t{record.outcome}", file=out)
        for child in record.children:
            line(child, depth + 1)
    for root in roots:
        line(root, 0)
