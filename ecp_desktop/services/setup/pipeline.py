"""Setup as a small ordered pipeline of steps that extensions can hook (Qt-free, blocking).

Each core step declares what it needs. Hooks run before or after a named step, and
an extension may do anything, in any order, so a step checks its needs itself just
before it runs; when one does not hold, the step is skipped with the reason, and the
next run of setup completes the job. Hooks cannot stop or reorder the core steps: a
hook that raises is reported, one that is slow is left behind after its time limit.

The whole pipeline is blocking and runs on one worker thread (never the GUI thread);
progress goes to a callback, which the wizard turns into a Qt signal.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from ecp_desktop.models.db import database

log = logging.getLogger(__name__)

HOOK_GROUP = "ecp_desktop.setup_hooks"
DONE, SKIPPED, FAILED = "done", "skipped", "failed"


class SetupProblem(RuntimeError):
    """Raised by a step or hook that did what it could and has a problem to report, in words
    (shown as they are, counted among the run's problems)."""


@dataclass(frozen=True)
class Need:
    """A precondition: ``check(context)`` returns None when it holds, else the reason in words."""

    name: str
    check: Callable[[SetupContext], str | None]


@dataclass
class SetupStep:
    name: str
    title: str
    run: Callable[[SetupContext], str]  # returns what it did, in words; raises on failure
    needs: tuple[Need, ...] = ()
    core: bool = True


@dataclass
class Outcome:
    """What became of one step or hook, for the summary."""

    name: str
    title: str
    status: str
    message: str
    kind: str = "step"  # "step", "hook", or "preference" (a choice saved when setup ends)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"name": self.name, "title": self.title, "kind": self.kind, "status": self.status,
                "message": self.message, "seconds": round(self.seconds, 3)}


@dataclass
class Hook:
    name: str
    when: str  # "before" or "after"
    step: str
    run: Callable[[SetupContext], str | None]
    timeout: float | None = None


class HookRegistry:
    """What extensions register into: ``hooks.after("import", fn, name="my-extension")``."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.problems: list[Outcome] = []  # extensions that could not be loaded or registered

    def before(self, step: str, run: Callable[[SetupContext], str | None], *, name: str = "",
               timeout: float | None = None) -> None:
        self.hooks.append(Hook(name or _name_of(run), "before", step, run, timeout))

    def after(self, step: str, run: Callable[[SetupContext], str | None], *, name: str = "",
              timeout: float | None = None) -> None:
        self.hooks.append(Hook(name or _name_of(run), "after", step, run, timeout))

    def around(self, step: str, when: str) -> list[Hook]:
        return [h for h in self.hooks if h.step == step and h.when == when]


def _name_of(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def load_extension_hooks(registry: HookRegistry | None = None) -> HookRegistry:
    """Every installed extension's ``register(hooks)`` from the entry point group."""
    registry = registry or HookRegistry()
    for ep in entry_points(group=HOOK_GROUP):
        try:
            ep.load()(registry)
        except Exception as exc:  # an extension that cannot load must not stop setup
            log.warning("setup extension %s could not be loaded", ep.name, exc_info=True)
            registry.problems.append(Outcome(ep.name, f"extension {ep.name}", FAILED,
                                             f"could not be loaded: {exc}", kind="hook"))
    return registry


ProgressCallback = Callable[[int, int, str], None]  # (steps finished, steps in all, what now)


@dataclass
class SetupContext:
    """Shared by the steps and hooks of one run; ``extras`` is for extensions."""

    options: object
    progress: ProgressCallback = lambda _done, _total, _what: None
    on_outcome: Callable[[Outcome], None] = lambda _outcome: None
    outcomes: list[Outcome] = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.on_outcome(outcome)

    def outcome(self, step: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.kind == "step" and o.name == step), None)


class Pipeline:
    def __init__(self, steps: list[SetupStep], hooks: HookRegistry | None = None, hook_timeout: float = 30.0) -> None:
        self.steps = steps
        self.hooks = hooks or HookRegistry()
        self.hook_timeout = hook_timeout

    def run(self, context: SetupContext) -> list[Outcome]:
        known = {s.name for s in self.steps}
        for problem in self.hooks.problems:
            context.add(problem)
        for hook in self.hooks.hooks:
            if hook.step not in known:
                context.add(Outcome(hook.name, hook.name, SKIPPED,
                                                f"it hooks {hook.when} a step named {hook.step!r}, "
                                                f"which does not exist (steps: {', '.join(known)})", "hook"))
        total = len(self.steps)
        for index, step in enumerate(self.steps):
            for hook in self.hooks.around(step.name, "before"):
                context.add(self._run_hook(hook, context))
            context.progress(index, total, step.title)
            context.add(self._run_step(step, context))
            for hook in self.hooks.around(step.name, "after"):
                context.add(self._run_hook(hook, context))
        context.progress(total, total, "finished")
        return context.outcomes

    def _run_step(self, step: SetupStep, context: SetupContext) -> Outcome:
        started = time.monotonic()
        try:
            with database.connection_context():
                unmet = [reason for need in step.needs if (reason := need.check(context))]
                if unmet:
                    log.info("setup step %s skipped: %s", step.name, "; ".join(unmet))
                    return Outcome(step.name, step.title, SKIPPED, "; ".join(unmet), seconds=time.monotonic() - started)
                message = step.run(context)
        except Exception as exc:
            log.error("setup step %s failed", step.name, exc_info=True)
            return Outcome(step.name, step.title, FAILED, _plain(exc), seconds=time.monotonic() - started)
        return Outcome(step.name, step.title, DONE, message, seconds=time.monotonic() - started)

    def _run_hook(self, hook: Hook, context: SetupContext) -> Outcome:
        """On a thread of its own, so a hang or a SystemExit cannot take the pipeline with it."""
        result: dict = {}

        def target() -> None:
            try:
                with database.connection_context():
                    result["message"] = hook.run(context) or "done"
            except BaseException as exc:  # noqa: B036  (a hook's sys.exit() must not end setup)
                result["error"] = exc

        title = f"{hook.name} ({hook.when} {hook.step})"
        limit = hook.timeout if hook.timeout is not None else self.hook_timeout
        started = time.monotonic()
        thread = threading.Thread(target=target, name=f"setup-hook-{hook.name}", daemon=True)
        thread.start()
        thread.join(limit)
        seconds = time.monotonic() - started
        if thread.is_alive():
            log.warning("setup hook %s still running after %.0f s; setup went on", hook.name, limit)
            return Outcome(hook.name, title, FAILED,
                           f"still running after {limit:g} s; setup went on without it", "hook", seconds)
        if "error" in result:
            exc = result["error"]
            log.warning("setup hook %s failed", hook.name, exc_info=exc)
            words = str(exc) if isinstance(exc, SetupProblem) else f"raised an error: {_plain(exc)}"
            return Outcome(hook.name, title, FAILED, words, "hook", seconds)
        return Outcome(hook.name, title, DONE, str(result["message"]), "hook", seconds)


def _plain(exc: BaseException) -> str:
    from ..core.errors import HypervisorError
    if isinstance(exc, HypervisorError):
        return exc.one_line()
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, (OSError, ValueError, RuntimeError)) else f"{type(exc).__name__}: {text}"
