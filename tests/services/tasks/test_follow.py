"""Other instances' tasks on the same inventory appear in this one's tasks pane within a
poll, with who started them, and their progress follows (issue 7).

Two kinds of "other instance": a real second process (the `clone-template` command) on
the same database, and a second set of services in this process whose follower is told
it is another instance (the rows it reads were written with this process's owner id).
"""
from __future__ import annotations

import subprocess
import sys

from PySide6.QtCore import QModelIndex, Qt

from ecp_desktop.services.core.aio import spawn
from ecp_desktop.services.composition import build_services
from ecp_desktop.services.sharing.instance import INSTANCE_ID
from ecp_desktop.services.tasks.follow import TaskFollower
from ecp_desktop.views.tasks.task_model import FLOW, STATUS, TASK, TaskTreeModel

from ...helpers import TEMPLATE_URI, TPL_UUID


def test_another_process_task_appears_with_who_started_it(services, run, db_url, qtbot):
    model = TaskTreeModel(services.tasks)
    follower = TaskFollower(services.tasks)
    assert run(follower.poll()) == []  # nothing from anyone yet
    other = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", TEMPLATE_URI,
                            "clone-template", "tpl", "--count", "2", "--name-pattern", "o-{n}"],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    (root,) = run(follower.poll())
    assert root.title.startswith("Create 2 machines from tpl") and root.status == "succeeded"
    assert root.owner != INSTANCE_ID and len(root.children) == 2
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=2000)  # the pane shows it at the top
    top = model.index(0, TASK)
    # Who started it, in a few words (the other process on this computer), the whole in its tooltip.
    pid = root.owner.rsplit(":", 2)[1]
    assert model.data(model.index(0, FLOW)) == f"process {pid}"
    assert f"(process {pid})" in model.data(model.index(0, FLOW), Qt.ItemDataRole.ToolTipRole)
    assert model.rowCount(top) == 2
    assert "Started by" in model.data(top, 3)  # tooltip role
    assert run(follower.poll()) == []  # once only
    assert model.rowCount(QModelIndex()) == 1


def test_a_running_task_of_another_instance_follows_to_its_end(services, run, db_url, qtbot):
    host = services.inventory.add_host(TEMPLATE_URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    watcher = build_services()  # the other instance: its own services on the same database
    try:
        follower = TaskFollower(watcher.tasks, me="workstation-2:4711:99")
        model = TaskTreeModel(watcher.tasks)
        assert run(follower.poll()) == []
        flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 3, "f-{n}", start=True))
        seen = []

        async def look_mid_flow(record, what):  # the engine awaits this after a step is done
            if not seen:
                await services.tasks.flush()
                seen.extend(await follower.poll())
                seen.append((seen[0].status, [c.status for c in seen[0].children]))
        services.engine.listeners.append(look_mid_flow)
        running = spawn(services.templates.run(flow))
        qtbot.waitUntil(running.done, timeout=20000)
        mine = running.result()
        run(services.tasks.flush())
        run(follower.poll())
        theirs = next(t for t in watcher.tasks.tasks if t.db_id == mine.db_id)
        assert theirs.status == mine.status == "succeeded" and theirs.summary == mine.summary
        assert [c.status for c in theirs.children] == [c.status for c in mine.children]
        qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=2000)
        assert model.data(model.index(0, STATUS)) == "succeeded"
        assert seen[0] is theirs  # seen while it ran, then the same record followed to its end
        assert seen[1] == ("running", ["running", "running", "running"])  # as it was then
    finally:
        watcher.shutdown()

