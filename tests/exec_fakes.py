"""Scripted fakes for the unit tests of ``engine.execution.Execution`` (tests/test_execution_unit.py).

No SSH, no MariaDB, no lab: a ``FakeRuntime`` answers the engine's own commands (lock, unlock, clean-up,
the kept-aside listing) and records every call; ``FakeStep`` does, probes and undoes by a script; the
journal is a real SQLite one in ``tmp_path``. Everything the fakes do goes into one shared ``log`` (a
list of strings such as ``"b.do"``, ``"b.do.end"``, ``"b.do.cancelled"``, ``"rt.sweep"``) so a test can
assert the order of calls across steps and runtime.

Step script actions (a list is consumed one entry per call, its last entry then repeats):

* do/undo: ``"ok"``, ``"fail"`` (StepFailed), ``"unknown"`` (StepUnknown), ``"transport"``
  (TransportError), ``"bug"`` (RuntimeError), ``"block"`` (wait on the phase's gate, then ok; with a
  suffix ``"block-fail"`` etc. the suffix decides), ``"slow"`` (sleep ``SLOW`` seconds, then ok; also
  with a suffix). Cancellation while waiting is logged as ``<name>.<phase>.cancelled`` and re-raised.
* probe: a ``Probe`` value, or any of the above (``"fail"``, ``"unknown"``, ``"block-..."``); a plain
  ``"block"`` answers ``Probe.DONE`` once released.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qm_tui.engine.events import Event, Output, RunFinished, StepChanged
from qm_tui.engine.execution import Execution, Settings
from qm_tui.engine.journal import Journal
from qm_tui.engine.model import Platform, PlatformStatus, Site, SiteRecord, SiteStatus
from qm_tui.engine.operations import MigrationContext
from qm_tui.engine.operations.base import Operation, Summary
from qm_tui.engine.operations.context import SiteMoveContext
from qm_tui.engine.runtime import EventHub
from qm_tui.engine.steps import Probe, Step, StepFailed, StepUnknown
from qm_tui.engine.transport import CmdResult, Outcome, TransportError

URI = "shop.example.org"
RUN_ID = "r-1"
SITE_NID, SOURCE_NID, TARGET_NID = 1, 2, 3
SLOW = 0.05
WAIT = 2.0  # the longest any test waits for something that should happen at once


def ok(stdout: str = "") -> CmdResult:
    return CmdResult(Outcome.OK, 0, stdout, "", None, None)


def failed(stderr: str = "", stdout: str = "", error: str = "exit 1") -> CmdResult:
    return CmdResult(Outcome.FAILED, 1, stdout, stderr, None, error)


def make_ctx(run_id: str = RUN_ID, new_uri: str = "") -> MigrationContext:
    def plat(nid: int, name: str) -> Platform:
        return Platform(nid, name, f"platform_{name}", f"/var/aegir/platforms/{name}", 10, "web", PlatformStatus(1),
                        "7.98", ("web1",))

    site = Site(SITE_NID, URI, SiteStatus(1), SOURCE_NID, "plat_a", 4, "standard", None, 5, None, None, 0, "web",
                ("web1",))
    return MigrationContext(run_id=run_id, site=site, source=plat(SOURCE_NID, "plat_a"),
                            target=plat(TARGET_NID, "plat_b"), master="m", master_title="m", fronts=("web1",),
                            aegir_root="/var/aegir", web_type="cluster", drush_cmd="drush", templates={},
                            parking_dir="parked", dump_dir="dumps", step_timeout=1, long_timeout=1, new_uri=new_uri)


def source_record(**over: Any) -> SiteRecord:
    """What the hostmaster has before the run (and after a good rollback)."""
    values: dict[str, Any] = {"nid": SITE_NID, "platform": SOURCE_NID, "title": URI, "context": None}
    values.update(over)
    return SiteRecord(**values)


def admin_kind(cmd: str) -> str:
    """Which of Execution's own commands this is."""
    for prefix, kind in (("mkdir -p -- ", "lock"), ("cat -- ", "owner"), ("if [ -d ", "unlock"),
                         ("find ", "cleanup"), ("ls -d -- ", "ls")):
        if cmd.startswith(prefix):
            return kind
    return "other"


Answer = CmdResult | BaseException


class FakeRuntime:
    """An ``ExecRuntime`` that records every call and answers from a script."""

    def __init__(self, ctx: SiteMoveContext, log: list[str]) -> None:
        self.ctx, self.log = ctx, log
        self.calls: list[tuple[Any, ...]] = []
        self._answers: dict[tuple[str, str | None], deque[Answer]] = {}
        self.sweep_error: BaseException | None = None
        self.sweep_says: list[tuple[str, str]] = []
        self.sweep_gate: asyncio.Event | None = None  # set: the sweep waits on it (a frozen host)
        self.record: SiteRecord | None | BaseException = source_record()
        self.hub: EventHub | None = None
        self.seq_of: Callable[[Step], int] | None = None

    # --- scripting ------------------------------------------------------------------------------

    def script(self, kind: str, *answers: Answer, host: str | None = None) -> None:
        """The next answers to admin commands of ``kind`` (on ``host``, or any); then OK."""
        self._answers.setdefault((kind, host), deque()).extend(answers)

    def admin_calls(self, kind: str | None = None) -> list[tuple[str, str]]:
        return [(c[1], c[2]) for c in self.calls if c[0] == "admin" and (kind is None or admin_kind(c[2]) == kind)]

    def admin_kinds(self) -> list[str]:
        return [admin_kind(cmd) for _h, cmd in self.admin_calls()]

    def count(self, what: str) -> int:
        return sum(1 for c in self.calls if c[0] == what)

    # --- ExecRuntime ------------------------------------------------------------------------------

    def bind(self, hub: EventHub, seq_of: Callable[[Step], int]) -> None:
        self.calls.append(("bind",))
        self.hub, self.seq_of = hub, seq_of

    async def admin(self, host: str, cmd: str, timeout: float = 60) -> CmdResult:
        kind = admin_kind(cmd)
        self.calls.append(("admin", host, cmd, timeout))
        self.log.append(f"rt.admin:{kind}")
        for key in ((kind, host), (kind, None)):
            queue = self._answers.get(key)
            if queue:
                answer = queue.popleft()
                if isinstance(answer, BaseException):
                    raise answer
                return answer
        return ok()

    async def sweep(self, say: Callable[[str, str], None]) -> None:
        self.calls.append(("sweep",))
        self.log.append("rt.sweep")
        for host, line in self.sweep_says:
            say(host, line)
        if self.sweep_gate is not None:
            await self.sweep_gate.wait()
        if self.sweep_error is not None:
            raise self.sweep_error

    async def hostmaster_record(self) -> SiteRecord | None:
        self.calls.append(("hostmaster_record",))
        self.log.append("rt.hostmaster_record")
        if isinstance(self.record, BaseException):
            raise self.record
        return self.record

    async def sh(self, step: Step, host: str, cmd: str, *, display: str | None = None,
                 timeout: float | None = None, quiet: bool = False,
                 input: str | bytes | None = None) -> CmdResult:
        self.calls.append(("sh", step.name, host, cmd))
        return ok()

    def note(self, step: Step, host: str, line: str) -> None:
        self.calls.append(("note", step.name, host, line))

    async def with_db_credentials(self, step: Step, host: str, cmd_template: str,
                                  timeout: float | None = None, display: str | None = None) -> CmdResult:
        self.calls.append(("with_db_credentials", step.name, host, cmd_template))
        return ok()


PHASES = ("do", "probe", "undo")


class FakeStep(Step):
    """A step whose do/probe/undo follow a script (see the module's docstring) and log every call."""

    def __init__(self, name: str, log: list[str], *, host: str = "m", group: str | None = None,
                 bookkeeping: bool = False, do: Any = "ok", probe: Any = Probe.DONE, undo: Any = "ok",
                 sets: dict[str, Any] | None = None) -> None:
        super().__init__(name, host, f"Fake {name}", group=group, bookkeeping=bookkeeping)
        self.log = log
        scripts = zip(PHASES, (do, probe, undo), strict=True)
        self.script = {p: list(v) if isinstance(v, list) else [v] for p, v in scripts}
        self.sets = sets or {}
        self.count = dict.fromkeys(PHASES, 0)
        self.started = {p: asyncio.Event() for p in PHASES}
        self.gate = {p: asyncio.Event() for p in PHASES}

    def _next(self, phase: str) -> Any:
        self.count[phase] += 1
        script = self.script[phase]
        return script.pop(0) if len(script) > 1 else script[0]

    async def _act(self, phase: str) -> Any:
        action = self._next(phase)
        self.log.append(f"{self.name}.{phase}")
        self.started[phase].set()
        if isinstance(action, str) and action.split("-")[0] in ("block", "slow"):
            wait, _, action = action.partition("-")
            try:
                if wait == "block":
                    await self.gate[phase].wait()
                else:
                    await asyncio.sleep(SLOW)
            except asyncio.CancelledError:
                self.log.append(f"{self.name}.{phase}.cancelled")
                raise
            action = action or (Probe.DONE if phase == "probe" else "ok")
        where = f"{self.host}: {self.name}"
        if isinstance(action, Probe):
            self.log.append(f"{self.name}.{phase}.{action.value}")
            return action
        if action == "fail":
            raise StepFailed(f"{where}: {phase} failed")
        if action == "unknown":
            raise StepUnknown(f"{where}: {phase} outcome unknown")
        if action == "transport":
            raise TransportError(f"{self.host}: connection lost")
        if action == "bug":
            raise RuntimeError(f"bug in {self.name}.{phase}")
        assert action == "ok", f"bad script action {action!r}"
        self.log.append(f"{self.name}.{phase}.end")
        return None

    async def do(self, rt: Any) -> None:
        await self._act("do")
        self.data.update(self.sets)

    async def probe(self, rt: Any) -> Probe:
        verdict = await self._act("probe")
        return verdict if isinstance(verdict, Probe) else Probe.DONE

    async def undo(self, rt: Any) -> None:
        await self._act("undo")

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, f"undo {self.name}")]


class FakeOp(Operation):
    """A minimal operation (not registered): the base's undone check and clean-up are the real ones."""

    kind = "fake"
    context = MigrationContext
    verb = "Fake"
    noun = "migration"

    @classmethod
    def steps(cls, ctx: SiteMoveContext) -> list[Step]:
        return []

    @classmethod
    def summary(cls, ctx: SiteMoveContext) -> Summary:
        return Summary(cls.kind, ctx.uri, ctx.source.title, ctx.target.title)

    @classmethod
    def success(cls, ctx: SiteMoveContext) -> str:
        return f"{ctx.uri} faked onto {ctx.target.title}"

    @classmethod
    def done_problem(cls, ctx: SiteMoveContext, rec: SiteRecord | None) -> str | None:
        return None


class Harness:
    """One run: context, fake runtime, real journal, fake steps, the events a sink saw."""

    def __init__(self, tmp_path: Path, *, new_uri: str = "", settings: Settings | None = None) -> None:
        self.ctx = make_ctx(new_uri=new_uri)
        self.log: list[str] = []
        self.rt = FakeRuntime(self.ctx, self.log)
        self.journal = Journal(tmp_path / "state")
        self.events: list[Event] = []
        self.steps: list[FakeStep] = []
        # No back-off between undo attempts unless a test asks for it (a retry would sleep 1 s).
        self.settings = settings or Settings(undo_retry_seconds=0.0)
        self.ex: Execution | None = None
        self.task: asyncio.Task[int] | None = None

    def step(self, name: str, **kw: Any) -> FakeStep:
        s = FakeStep(name, self.log, **kw)
        self.steps.append(s)
        return s

    def execution(self, states: dict[int, str] | None = None,
                  undo_states: dict[int, str | None] | None = None) -> Execution:
        """The journal's rows first (as ``Runner.start`` makes them), with any recorded states."""
        ctx, steps = self.ctx, self.steps
        plan = {"operation": FakeOp.kind, "summary": FakeOp.summary(ctx).as_json(), "context": ctx.to_json(),
                "steps": [[s.name, s.host, s.title] for s in steps]}
        self.journal.create_run(ctx.run_id, ctx.uri, ctx.site.nid, ctx.source.title, ctx.target.title, plan,
                                [(s.name, s.host, s.title) for s in steps])
        for i, state in (states or {}).items():
            self.journal.set_step(ctx.run_id, i, state=state)
        for i, undo in (undo_states or {}).items():
            self.journal.set_step(ctx.run_id, i, undo_state=undo)
        if states is not None:
            states = {i: states.get(i, "pending") for i in range(len(steps))}
        if undo_states is not None:
            undo_states = {i: undo_states.get(i) for i in range(len(steps))}
        self.ex = Execution(self.rt, FakeOp, list(steps), self.journal, [self.events.append], self.settings,
                            states, undo_states)
        return self.ex

    def start(self, mode: str = "migrate", **kw: Any) -> asyncio.Task[int]:
        ex = self.execution(**kw)
        self.task = asyncio.create_task(ex.run(mode))
        return self.task

    async def close(self) -> None:
        """After the test, passed or not: release every gate so a run left waiting ends, then close."""
        for s in self.steps:
            for gate in s.gate.values():
                gate.set()
        if self.rt.sweep_gate is not None:
            self.rt.sweep_gate.set()
        if self.task is not None and not self.task.done():
            await asyncio.wait({self.task}, timeout=WAIT)
            if not self.task.done():
                self.task.cancel()
                await asyncio.wait({self.task}, timeout=WAIT)
        if self.task is not None and self.task.done() and not self.task.cancelled():
            self.task.exception()  # retrieved: no "exception was never retrieved" at exit
        self.journal.close()

    async def run(self, mode: str = "migrate", **kw: Any) -> int:
        return await finish(self.start(mode, **kw))

    # --- what happened ----------------------------------------------------------------------------

    def record(self) -> Any:
        run = self.journal.get_run(self.ctx.run_id)
        assert run is not None
        return run

    def states(self) -> dict[str, str]:
        return {s.name: s.state for s in self.record().steps}

    def undo_states(self) -> dict[str, str | None]:
        return {s.name: s.undo_state for s in self.record().steps}

    def calls(self, phase: str) -> list[str]:
        """The steps whose ``phase`` was called, in call order (a name once per call)."""
        return [e.rsplit(".", 1)[0] for e in self.log if e.endswith(f".{phase}") and not e.startswith("rt.")]

    def at(self, entry: str) -> int:
        return self.log.index(entry)

    @property
    def finished(self) -> RunFinished:
        ends = [e for e in self.events if isinstance(e, RunFinished)]
        assert len(ends) == 1, ends
        return ends[0]

    def infos(self) -> list[str]:
        return [e.line for e in self.events if isinstance(e, Output) and e.stream == "info"]

    def changes(self, name: str | None = None) -> list[tuple[str, str, str]]:
        return [(e.name, e.phase, e.state) for e in self.events
                if isinstance(e, StepChanged) and (name is None or e.name == name)]


async def finish(task: asyncio.Task[int]) -> int:
    """The run's exit code; a run still going after ``WAIT`` fails the test (and is left to ``close``:
    cancelling it here could wait for ever on a step that is blocked)."""
    await asyncio.wait({task}, timeout=WAIT)
    assert task.done(), f"the run did not end within {WAIT} s"
    return task.result()


async def started(*steps: FakeStep, phase: str = "do") -> None:
    """Until every step's ``phase`` has begun (a test fails after ``WAIT`` rather than hang)."""
    await asyncio.wait_for(asyncio.gather(*(s.started[phase].wait() for s in steps)), WAIT)


def names(steps: Sequence[Step]) -> list[str]:
    return [s.name for s in steps]
