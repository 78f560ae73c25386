"""Runs a quick migrate: preflight, journaled steps (fronts in parallel), automatic rollback.

Order of every step: journal the intent, act on the hosts, journal the result. A test hook
(``QM_TUI_CRASH_AT=<step>[@<host>]:<before|after_remote|after_journal>``) makes the process exit at
that instant so crash recovery can be proven.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..config import Config
from ..errors import QmError
from . import service
from .eligibility import TargetVerdict
from .events import EventSink, Output, RunFinished, RunStarted, StepChanged
from .hostmaster_db import HostmasterDB
from .journal import Journal, new_run_id
from .plan import MigrationContext, build_context
from .preflight import Refused, preflight
from .runtime import EventHub, LiveRuntime
from .steps import (
    CacheClear,
    DumpDb,
    FetchCode,
    HostingImport,
    Maintenance,
    MoveSiteDir,
    ParkFiles,
    Probe,
    ProvisionSave,
    PushSite,
    RemoveOldSiteDir,
    RestoreFiles,
    SetAsideMasterFiles,
    Step,
    StepFailed,
    StepUnknown,
    UpdateDb,
    Verify,
)
from .transport import Outcome, TransportError, TransportPool

q = shlex.quote
EXIT_MIGRATED, EXIT_ROLLED_BACK, EXIT_REFUSED, EXIT_ATTENTION = 0, 1, 2, 3
CRASH_ENV = "QM_TUI_CRASH_AT"
HEARTBEAT_EVERY = 5.0


def build_steps(ctx: MigrationContext) -> list[Step]:
    steps: list[Step] = [Maintenance(ctx, True), DumpDb(ctx)]
    steps += [ParkFiles(ctx, f) for f in ctx.fronts]
    if not ctx.master_is_front:
        steps.append(SetAsideMasterFiles(ctx))
    if ctx.single_remote:
        steps.append(FetchCode(ctx))
    steps += [MoveSiteDir(ctx), ProvisionSave(ctx), UpdateDb(ctx), CacheClear(ctx), Verify(ctx)]
    steps += [PushSite(ctx, f) for f in ctx.remote_fronts]
    steps += [RestoreFiles(ctx, f) for f in ctx.fronts]
    steps += [RemoveOldSiteDir(ctx, f) for f in ctx.remote_fronts]
    steps += [HostingImport(ctx), Maintenance(ctx, False)]
    return steps


def step_key(step: Step) -> str:
    return f"{step.name}@{step.host}" if step.group else step.name


@dataclass
class Prepared:
    ctx: MigrationContext
    verdict: TargetVerdict
    steps: list[Step]
    active_tasks: list[tuple[int, str, int]]


def _groups(steps: Sequence[Step]) -> list[list[Step]]:
    out: list[list[Step]] = []
    for s in steps:
        if out and s.group is not None and out[-1][0].group == s.group:
            out[-1].append(s)
        else:
            out.append([s])
    return out


class Runner:
    def __init__(self, cfg: Config, journal: Journal | None = None) -> None:
        self.cfg = cfg
        self.journal = journal or Journal(cfg.state_dir)
        self.sinks: list[EventSink] = []
        self.pool = TransportPool(cfg.ssh)

    def subscribe(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    async def close(self) -> None:
        await self.pool.close_all()

    # --- planning -------------------------------------------------------------------------------

    async def prepare(self, uri: str, platform: str, strict: bool, run_id: str | None = None) -> Prepared:
        st = await service.targets(self.cfg, uri, strict=strict, only=platform)
        verdict = st.verdicts[0]
        servers = st.snapshot.servers
        web = servers.get(st.source.web_server)
        master_title = next((s.title for s in servers.values() if s.context == "server_master"),
                            self.cfg.hostmaster.server)
        ctx = build_context(self.cfg, run_id or new_run_id(), st.site, st.source, verdict.platform,
                            master_title, web.http_type if web else None,
                            verdict.profile.short_name if verdict.profile else None)
        async with HostmasterDB(self.cfg.hostmaster.db) as db:
            tasks = await db.active_tasks(st.site.nid)
        return Prepared(ctx, verdict, build_steps(ctx), tasks)

    async def check(self, prep: Prepared) -> list[str]:
        return await preflight(prep.ctx, prep.verdict, self.pool, self.journal, prep.active_tasks)

    # --- running --------------------------------------------------------------------------------

    async def migrate(self, prep: Prepared, preflighted: bool = False) -> int:
        """Preflight, lock, run, roll back on failure. Returns the CLI exit code."""
        problems = [] if preflighted else await self.check(prep)
        if problems:
            raise Refused(problems)
        ctx, steps = prep.ctx, prep.steps
        plan = {"context": _ctx_json(ctx), "steps": [[s.name, s.host, s.title] for s in steps]}
        self.journal.create_run(ctx.run_id, ctx.uri, ctx.site.nid, ctx.source.title, ctx.target.title, plan,
                                [(s.name, s.host, s.title) for s in steps])
        execution = Execution(self, ctx, steps)
        return await execution.run()


class Execution:
    """One run in this process: steps, journal, events, rollback."""

    def __init__(self, runner: Runner, ctx: MigrationContext, steps: list[Step]) -> None:
        self.runner, self.ctx, self.steps = runner, ctx, steps
        self.journal = runner.journal
        self.hub = EventHub(self.journal, ctx.run_id)
        for sink in runner.sinks:
            self.hub.subscribe(sink)
        self.seq = {id(s): i for i, s in enumerate(steps)}
        self.rt = LiveRuntime(runner.cfg, ctx, runner.pool, self.hub, self.journal, lambda s: self.seq[id(s)])
        self.states: dict[int, str] = {i: "pending" for i in range(len(steps))}
        self.undo_states: dict[int, str | None] = {i: None for i in range(len(steps))}

    def emit_step(self, i: int, phase: str, state: str, detail: str | None = None) -> None:
        s = self.steps[i]
        self.hub.emit(StepChanged(self.ctx.run_id, i, s.name, s.host, phase, state, detail, time.time()))

    def info(self, host: str, line: str, seq: int | None = None) -> None:
        self.hub.emit(Output(self.ctx.run_id, seq, host, "info", line))

    async def run(self) -> int:
        ctx = self.ctx
        self.hub.emit(RunStarted(ctx.run_id, ctx.uri, ctx.source.title, ctx.target.title,
                                 tuple((i, s.name, s.host, s.title) for i, s in enumerate(self.steps))))
        beat = asyncio.create_task(self._heartbeat())
        try:
            try:
                if not await self._lock():
                    return EXIT_REFUSED
            except QmError as exc:
                self._finish("aborted", f"{ctx.master}: cannot take the lock {ctx.lock_dir}: {exc}")
                return EXIT_REFUSED
            try:
                failure = await self._forward()
            except Exception as exc:  # a bug must still leave the site whole: roll back what ran
                failure = f"internal error: {exc!r}"
            if failure is None:
                await self._finalize()
                await self._unlock()
                return self._finish("succeeded", f"{ctx.uri} is on {ctx.target.title}")
            self.info(ctx.master, f"rolling back: {failure}")
            return await self._rollback(failure)
        finally:
            beat.cancel()
            self.hub.close()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            self.journal.heartbeat(self.ctx.run_id)

    def _finish(self, state: str, message: str, manual: tuple[tuple[str, str], ...] = ()) -> int:
        self.journal.set_run(self.ctx.run_id, state=state, ended_at=time.time(),
                             error=None if state == "succeeded" else message)
        self.hub.emit(RunFinished(self.ctx.run_id, state, message, manual))
        return {"succeeded": EXIT_MIGRATED, "rolled_back": EXIT_ROLLED_BACK}.get(state, EXIT_ATTENTION)

    # --- forward ----------------------------------------------------------------------------------

    async def _forward(self) -> str | None:
        for group in _groups(self.steps):
            results = await asyncio.gather(*(self._do(s) for s in group))
            failed = [r for r in results if r]
            if failed:
                return "; ".join(failed)
        return None

    def _crash(self, step: Step, point: str) -> None:
        want = os.environ.get(CRASH_ENV)
        if want and want in (f"{step.name}:{point}", f"{step.name}@{step.host}:{point}"):
            self.hub.flush()
            os._exit(137)

    async def _do(self, step: Step) -> str | None:
        i = self.seq[id(step)]
        self.journal.set_step(self.ctx.run_id, i, state="started", started_at=time.time())
        self.states[i] = "started"
        self.emit_step(i, "do", "started")
        self._crash(step, "before")
        detail: str | None = None
        try:
            await step.do(self.rt)
            state = "ok"
        except StepUnknown as exc:
            detail = str(exc)
            state = await self._settle(step, detail)
        except (StepFailed, QmError) as exc:
            state, detail = "failed", str(exc)
        self._crash(step, "after_remote")
        self.states[i] = state
        self.journal.set_step(self.ctx.run_id, i, state=state, ended_at=time.time(), detail=detail, data=step.data)
        self.emit_step(i, "do", state, detail)
        self._crash(step, "after_journal")
        if state == "ok":
            return None
        return detail or f"{step.host}: {step.name} failed"

    async def _settle(self, step: Step, detail: str) -> str:
        """An unknown outcome: look at the host, never guess."""
        try:
            verdict = await step.probe(self.rt)
        except (StepFailed, StepUnknown, QmError) as exc:
            self.info(step.host, f"probe of {step.name} failed: {exc}", self.seq[id(step)])
            return "unknown"
        self.info(step.host, f"probe of {step.name}: {verdict.value}", self.seq[id(step)])
        return "ok" if verdict is Probe.DONE else "failed"

    # --- rollback -------------------------------------------------------------------------------

    async def _rollback(self, reason: str) -> int:
        self.journal.set_run(self.ctx.run_id, state="rolling_back", error=reason)
        todo = [s for s in reversed(self.steps)
                if self.states[self.seq[id(s)]] in ("ok", "failed", "unknown", "started")
                and self.undo_states[self.seq[id(s)]] != "ok"]
        for group in _groups(todo):
            results = await asyncio.gather(*(self._undo(s) for s in group))
            errors = [r for r in results if r]
            if errors:
                remaining = todo[todo.index(group[0]):]
                manual = tuple(c for s in remaining for c in s.undo_commands(self.ctx))
                return self._finish("needs_attention", f"rollback stopped: {'; '.join(errors)} "
                                    f"(migration failed first: {reason})", manual)
        platform = await self.rt.hostmaster_platform()
        if platform != self.ctx.source.nid:
            return self._finish("needs_attention", f"rolled back, but the hostmaster has the site on platform "
                                f"node {platform}, not {self.ctx.source.nid} ({self.ctx.source.title})")
        await self._unlock()
        return self._finish("rolled_back", f"migration failed and was rolled back: {reason}")

    async def _undo(self, step: Step) -> str | None:
        i = self.seq[id(step)]
        self.journal.set_step(self.ctx.run_id, i, undo_state="started", undo_started_at=time.time())
        self.emit_step(i, "undo", "started")
        deadline = time.monotonic() + self.runner.cfg.migrate.undo_retry_seconds
        delay = 1.0
        while True:
            try:
                await step.undo(self.rt)
                state, detail = "ok", None
                break
            except StepFailed as exc:
                state, detail = "failed", str(exc)
                break
            except (StepUnknown, TransportError) as exc:
                # The host is unreachable or the connection dropped: undos are idempotent, so wait for
                # it to come back rather than leave the site half rolled back.
                state, detail = "failed", str(exc)
                if time.monotonic() + delay > deadline:
                    break
                self.info(step.host, f"undo of {step.name} could not reach the host ({exc}); retrying in "
                          f"{delay:.0f} s", i)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
            except QmError as exc:
                state, detail = "failed", str(exc)
                break
        self.undo_states[i] = state
        self.journal.set_step(self.ctx.run_id, i, undo_state=state, undo_ended_at=time.time(),
                              detail=detail if detail else None)
        self.emit_step(i, "undo", state, detail)
        return detail

    # --- lock and clean-up ------------------------------------------------------------------------

    async def _lock(self) -> bool:
        ctx = self.ctx
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        owner = f"run {ctx.run_id} pid {os.getpid()} on {socket.gethostname()} since {since}"
        cmd = (f"mkdir -p -- {q(ctx.lock_dir.rsplit('/', 1)[0])} && mkdir -- {q(ctx.lock_dir)} && "
               f"printf '%s\\n' {q(owner)} > {q(ctx.lock_dir + '/owner')}")
        t = await self.rt.pool.get(ctx.connect_name(ctx.master))
        res = await t.run(cmd, timeout=60)
        if res.outcome is not Outcome.OK:
            held = await t.run(f"cat -- {q(ctx.lock_dir + '/owner')}", timeout=60)
            self._finish("aborted", f"{ctx.master}: cannot take the lock {ctx.lock_dir}: "
                         f"{held.stdout.strip() or res.stderr.strip() or res.error}")
            return False
        return True

    async def _unlock(self) -> None:
        ctx = self.ctx
        t = await self.rt.pool.get(ctx.connect_name(ctx.master))
        await t.run(f"rm -f -- {q(ctx.lock_dir + '/owner')} && rmdir -- {q(ctx.lock_dir)}", timeout=60)

    async def _finalize(self) -> None:
        """After success: drop M's stale copy of files (never live data) and old dumps."""
        ctx = self.ctx
        t = await self.rt.pool.get(ctx.connect_name(ctx.master))
        if not ctx.master_is_front:
            await t.run(f"rm -rf --one-file-system -- {q(ctx.park_dir)}", timeout=600)
        days = self.runner.cfg.migrate.dump_retention_days
        dump_dir = ctx.dump_path.rsplit("/", 1)[0]
        await t.run(f"find {q(dump_dir)} -maxdepth 1 -name '*.sql' -type f -mtime +{int(days)} -delete",
                    timeout=600)


def _ctx_json(ctx: MigrationContext) -> dict[str, object]:
    d = asdict(ctx)
    d.pop("templates", None)
    return d
