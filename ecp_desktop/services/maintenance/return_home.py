"""Leaving maintenance: the mark cleared and, when the operator wants it, the machines the
host's last evacuation moved away migrated back (a plan first, as for the evacuation).

Which machines came from the host is read from the task history: the succeeded
``evacuate_domain`` steps of its last evacuation that were not moved back by a rollback.
Those rows are only a list of UUIDs to look for: each goes home only when, in libvirt, it
carries the home mark the evacuation set on it naming this host; where it is now and whether
it can go home is read from the hosts (the inventory's live rows and the migration
service's negotiation), never taken from a row another operator could have written.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid as uuid_module
from dataclasses import dataclass, field

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..core.errors import HypervisorError
from ..hosts.lookups import find_domain
from ..libvirt_xml.marks import clear_home_mark, home_mark
from ..migration.checks import MigrationOptions
from ..tasks import store
from ..tasks.engine import Group
from ..tasks.records import ROLLBACK, SUCCEEDED, TaskRecord
from . import mark
from .evacuate import EvacuationService, HostsUnreachable
from .moves import STAYED

log = logging.getLogger(__name__)


@dataclass
class Return:
    uuid: str
    name: str
    now_on: str = ""            # the host it runs on now ("" when no connected host has it)
    negotiation: object = None  # the migration service's answer for now_on → home
    reason: str = ""            # why it does not go home ("" when it does)

    @property
    def moves(self) -> bool:
        return self.negotiation is not None and not self.reason

    def as_json(self) -> dict:
        return {"machine": self.name, "uuid": self.uuid, "now_on": self.now_on or None,
                "method": self.negotiation.decision.method if self.moves else None, "reason": self.reason}


@dataclass
class ReturnPlan:
    home: str
    returns: list[Return] = field(default_factory=list)
    evacuation: int | None = None  # the evacuation task it is read from

    @property
    def moving(self) -> list[Return]:
        return [r for r in self.returns if r.moves]

    def as_json(self) -> dict:
        return {"host": self.home, "evacuation_task": self.evacuation, "machines": [r.as_json() for r in self.returns]}


def evacuated_from(home_uri: str) -> tuple[int | None, list[tuple[str, str]]]:
    """(task id, [(uuid, name)]) of the machines the host's last evacuation moved away and
    that no rollback moved back. Blocking: on the database thread."""
    with database.connection_context():
        T = schema.Task
        root = (T.select(T.id).where(T.parent_id.is_null() & (T.kind == "evacuate") & (T.host_uri == home_uri))
                .order_by(T.id.desc()).first())
        if root is None:
            return None, []
        rows = store.tree_rows(root.id)
    undone = {r["compensates_id"] for r in rows if r["reason"] == ROLLBACK and r["status"] == SUCCEEDED}
    moved = {}
    for row in rows:
        if (row["op"] != "evacuate_domain" or row["reason"] == ROLLBACK or row["status"] != SUCCEEDED
                or row["id"] in undone):
            continue
        try:
            params = json.loads(row["params"] or "{}")
            machine = str(uuid_module.UUID(str(params.get("uuid", ""))))
        except (ValueError, TypeError, AttributeError):
            continue  # a row that does not name a machine: nothing to look for
        if params.get("outcome") != STAYED:
            moved[machine] = str(row["target_name"] or machine)
    return root.id, list(moved.items())


class ReturnHome:
    """Host → Exit Maintenance… and ``maintenance HOST off --return``."""

    def __init__(self, evacuations: EvacuationService) -> None:
        self.evacuations = evacuations
        self.migrations = evacuations.migrations
        self.inventory = evacuations.inventory

    async def plan(self, home_uri: str, options: MigrationOptions | None = None) -> ReturnPlan:
        home = self.inventory.hosts.get(home_uri)
        if home is None or not home.connected:
            raise HostsUnreachable(f"{home_uri}: {home.reason if home else 'not configured'}")
        task_id, moved = await self.inventory.executors.on_database(evacuated_from, home_uri)
        plan = ReturnPlan(home_uri, evacuation=task_id)
        where = {uuid: uri for uri, uuid in self.inventory.machines
                 if uri != home_uri and self.inventory.machines[(uri, uuid)].live}
        here = {uuid for uri, uuid in self.inventory.machines if uri == home_uri}
        options = options or MigrationOptions()
        for uuid, name in moved:
            back = Return(uuid, name, where.get(uuid, ""))
            if uuid in here and not back.now_on:
                back.reason = "already on this host"
            elif not back.now_on:
                back.reason = "not on any connected host"
            plan.returns.append(back)
        await asyncio.gather(*(self._check_home_mark(r, home_uri) for r in plan.returns if not r.reason))
        todo = [r for r in plan.returns if not r.reason]
        negotiate = self.migrations.negotiate_or_why
        answers = await asyncio.gather(*(negotiate(r.now_on, r.uuid, home_uri, options) for r in todo))
        for back, answer in zip(todo, answers, strict=True):
            if isinstance(answer, str):
                back.reason = answer
            elif not answer.decision.allowed:
                back.negotiation, back.reason = answer, answer.decision.reason()
            else:
                back.negotiation = answer
                back.name = answer.facts.machine.name  # as its host calls it now
        return plan

    async def _check_home_mark(self, back: Return, home_uri: str) -> None:
        """A machine goes home only if, where it is now, libvirt says it came from ``home_uri``."""
        def read(conn) -> str:
            dom = find_domain(conn, back.uuid)
            return home_mark(dom) if dom is not None else ""
        try:
            came_from = await self.inventory.hosts[back.now_on].call(read, operation="read where it came from")
        except HypervisorError as error:
            back.reason = f"its host cannot tell where it came from ({error.one_line()})"
            return
        if came_from != home_uri:
            back.reason = ("it does not carry this host's evacuation mark (it was moved since, or the task record "
                           "naming it comes from elsewhere); left where it is")

    def flow(self, plan: ReturnPlan, *, parallel: int = 2) -> Group:
        label = self.inventory.hosts[plan.home].label
        root = Group("return", f"Return machines to {label}", host_uri=plan.home, concurrent=True,
                     limit=max(1, parallel))
        root.children = [self.migrations.plan(r.negotiation) for r in plan.moving]
        return root

    async def leave(self, home_uri: str, plan: ReturnPlan | None = None, *, parallel: int = 2) -> TaskRecord | None:
        """Clear the mark, then (with a plan) migrate its machines home as one task. A failed
        migration stops those not started yet; the machines already home stay there (a
        migration's undo only settles a machine on one host), and each is on exactly one host."""
        await self.inventory.executors.on_database(mark.set_maintenance, home_uri, False)
        if plan is None or not plan.moving:
            return None
        root = await self.migrations.engine.run(self.flow(plan, parallel=parallel))
        home = self.inventory.hosts[home_uri]

        def arrived(conn) -> None:  # home again: the mark has done its work
            for back in plan.moving:
                dom = find_domain(conn, back.uuid)
                if dom is not None:
                    clear_home_mark(dom)
        try:
            await home.call(arrived, operation="clear the evacuation marks")
        except HypervisorError as error:
            log.warning("the evacuation marks on %s stay: %s", home_uri, error)
        return root
