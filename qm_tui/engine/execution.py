"""One run driven by this process: journaled steps, abort, pause, rollback, and recovery.

Order for every step: journal the intent, act on the hosts, journal the result. A test hook
(``QM_TUI_CRASH_AT=<step>[@<host>]:<point>``, point ``before``, ``after_remote``, ``after_journal`` of the
step's *do*, or ``undo_before``, ``undo_after_remote``, ``undo_after_journal`` of its *undo*) exits the
process at that instant so crash recovery can be proven. Abort requests come from the journal (another terminal),
or from a signal in the foreground: in-flight steps are cancelled (the transport kills the remote
process groups), their outcome is settled by probing, then the run rolls back or pauses.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import QmError
from .events import EventSink, Output, RunFinished, RunStarted, StepChanged
from .journal import Journal, lock_owner_line
from .operations.context import SiteMoveContext
from .runtime import EventHub
from .states import Request, RunState, StepState, UndoState
from .steps import Probe, Step, StepFailed, StepUnknown
from .sweep import SweepRefused
from .transport import Outcome, TransportError

if TYPE_CHECKING:
    from .operations.base import Operation
    from .runtime import ExecRuntime

q = shlex.quote
EXIT_MIGRATED, EXIT_ROLLED_BACK, EXIT_REFUSED, EXIT_ATTENTION = 0, 1, 2, 3
CRASH_ENV = "QM_TUI_CRASH_AT"
HEARTBEAT_EVERY = 5.0
REQUEST_POLL = 0.3
ABORTED = "aborted by the operator"
IN_RUN_SWEEP_LIMIT = 30.0
# What a probe of a step left started or unknown means on recovery; the steps a rollback undoes.
SETTLED = {Probe.DONE: StepState.OK, Probe.NOT_DONE: StepState.PENDING, Probe.PARTIAL: StepState.FAILED}
TOUCHED = (StepState.OK, StepState.FAILED, StepState.UNKNOWN, StepState.STARTED)


def groups(steps: Sequence[Step]) -> list[list[Step]]:
    """Consecutive steps of one group run in parallel (one per front)."""
    out: list[list[Step]] = []
    for s in steps:
        if out and s.group is not None and out[-1][0].group == s.group:
            out[-1].append(s)
        else:
            out.append([s])
    return out


@dataclass(frozen=True)
class Settings:
    """The config an execution needs (no Config object: the unit tests build one in a line)."""

    undo_retry_seconds: float = 300.0
    dump_retention_days: int = 7


class Execution:
    """Drives one run's steps with an injected runtime (``runtime.ExecRuntime``): the live one of a
    ``Runner``, or a scripted fake (tests/test_execution_unit.py)."""

    def __init__(self, rt: ExecRuntime, op: type[Operation], steps: list[Step], journal: Journal,
                 sinks: Sequence[EventSink] = (), settings: Settings = Settings(),
                 states: dict[int, str] | None = None, undo_states: dict[int, str | None] | None = None) -> None:
        self.rt, self.op, self.steps, self.journal, self.settings = rt, op, steps, journal, settings
        self.ctx: SiteMoveContext = rt.ctx
        self.hub = EventHub(journal, self.ctx.run_id)
        for sink in sinks:
            self.hub.subscribe(sink)
        self.seq = {id(s): i for i, s in enumerate(steps)}
        rt.bind(self.hub, lambda s: self.seq[id(s)])
        self.states: dict[int, str] = states or {i: StepState.PENDING for i in range(len(steps))}
        self.undo_states: dict[int, str | None] = undo_states or {i: None for i in range(len(steps))}
        self.inflight: set[asyncio.Task[None]] = set()
        self.abort_mode: str | None = None  # "rollback" or "pause"
        self.stop_after_group = False  # a hang-up with on_hangup=stop: finish in-flight work, then pause
        self.in_rollback = False
        self.pause_rollback = False

    # --- events ---------------------------------------------------------------------------------

    def emit_step(self, i: int, phase: str, state: str, detail: str | None = None) -> None:
        s = self.steps[i]
        self.hub.emit(StepChanged(self.ctx.run_id, i, s.name, s.host, phase, state, detail, time.time()))

    def info(self, host: str, line: str, seq: int | None = None) -> None:
        self.hub.emit(Output(self.ctx.run_id, seq, host, "info", line))

    def _finish(self, state: str, message: str, manual: tuple[tuple[str, str], ...] = ()) -> int:
        self.journal.set_run(self.ctx.run_id, state=state, ended_at=time.time(),
                             error=None if state == RunState.SUCCEEDED else message)
        self.hub.emit(RunFinished(self.ctx.run_id, state, message, manual))
        return {RunState.SUCCEEDED: EXIT_MIGRATED, RunState.ROLLED_BACK: EXIT_ROLLED_BACK}.get(state, EXIT_ATTENTION)

    # --- abort ----------------------------------------------------------------------------------

    def request(self, kind: str) -> None:
        """``abort`` (then roll back), ``pause`` (abort, no rollback), ``stop`` (finish in-flight, pause)."""
        if self.in_rollback:
            if kind in (Request.ABORT, Request.PAUSE) and not self.pause_rollback:
                # A second abort during a rollback only pauses it: never leave an undo half-way.
                self.pause_rollback = True
                self.info(self.ctx.master, "abort during rollback: pausing after the current undo")
            return
        if kind == Request.STOP:
            self.stop_after_group = True
            self.info(self.ctx.master, "hang-up: stopping at the next safe point")
            return
        if self.abort_mode is None:
            self.abort_mode = "pause" if kind == Request.PAUSE else "rollback"
            self.info(self.ctx.master, f"abort requested ({'no rollback' if kind == Request.PAUSE else 'roll back'}): "
                                       "stopping in-flight commands")
            for task in list(self.inflight):
                task.cancel()
        elif kind == Request.PAUSE:
            self.abort_mode = "pause"

    async def _poll_requests(self) -> None:
        while True:
            await asyncio.sleep(REQUEST_POLL)
            for kind in self.journal.take_requests(self.ctx.run_id):
                self.request(kind)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            self.journal.heartbeat(self.ctx.run_id)

    # --- processes left behind ---------------------------------------------------------------------

    async def sweep(self) -> None:
        """Stop every process of this run still running on M and on every front (raises SweepRefused).

        Recovery calls it before anything else: a dead runner's commands outlive it."""
        await self.rt.sweep(self.info)

    async def _sweep_before_rollback(self) -> None:
        """Our own in-flight commands were killed by their transports; a group that survived (a lost
        connection, a frozen host) is hunted down here. Best effort: an unreachable host cannot be
        undone either, and its undo waits for it."""
        try:
            await asyncio.wait_for(self.sweep(), IN_RUN_SWEEP_LIMIT)  # a frozen host must not hold it up
        except (SweepRefused, QmError, TimeoutError) as exc:
            self.info(self.ctx.master, f"before rolling back: {str(exc) or 'the sweep did not finish in time'}")

    # --- top level --------------------------------------------------------------------------------

    async def run(self, mode: str = "migrate") -> int:
        """``migrate`` (a new run); ``resume``, ``rollback`` or ``pause`` (of a run from the journal)."""
        ctx = self.ctx
        summary = self.op.summary(ctx)
        self.hub.emit(RunStarted(ctx.run_id, summary.subject, summary.source, summary.target,
                                 tuple((i, s.name, s.host, s.title) for i, s in enumerate(self.steps)),
                                 operation=self.op.kind))
        background = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._poll_requests())]
        try:
            if mode == "migrate":
                if not await self._lock():
                    return EXIT_REFUSED
            else:
                await self._settle_all()
            if mode == "pause":  # an abort of a run whose runner is gone: swept, settled, left paused
                undoing = any(self.undo_states.values())
                nxt = f"qm-tui rollback {ctx.run_id}" if undoing else \
                    f"qm-tui resume {ctx.run_id}, or undo with: qm-tui rollback {ctx.run_id}"
                return self._finish(RunState.PAUSED, f"{ABORTED} (its runner was gone); continue with: {nxt}")
            if mode == "rollback":
                return await self._rollback("rollback requested by the operator")
            try:
                failure = await self._forward()
            except Exception as exc:  # a bug must still leave the site whole: roll back what ran
                failure = f"internal error: {exc!r}"
            finished = all(self.states[i] == StepState.OK for i in range(len(self.steps)))
            if failure is None and self.abort_mode is None and (not self.stop_after_group or finished):
                await self.op.cleanup(self.rt, self.settings.dump_retention_days)
                await self._unlock()
                warnings = "".join(f"; {s.data['warning']}" for s in self.steps if s.data.get("warning"))
                warnings += await self._record_check()
                return self._finish(RunState.SUCCEEDED, self.op.success(ctx) + await self._kept_aside() + warnings)
            if self.abort_mode == "pause" or (self.stop_after_group and failure is None):
                why = ABORTED if self.abort_mode else "stopped at a safe point after a hang-up"
                return self._finish(RunState.PAUSED, f"{why}; continue with: qm-tui resume {ctx.run_id}, or undo with: "
                                              f"qm-tui rollback {ctx.run_id}")
            reason = ABORTED if self.abort_mode else (failure or ABORTED)
            self.info(ctx.master, f"rolling back: {reason}")
            await self._sweep_before_rollback()
            return await self._rollback(reason)
        finally:
            for task in background:
                task.cancel()
            self.hub.close()

    # --- forward ----------------------------------------------------------------------------------

    async def _forward(self) -> str | None:
        for group in groups(self.steps):
            todo = [s for s in group if self.states[self.seq[id(s)]] != StepState.OK]
            if not todo:
                continue
            if self.abort_mode or self.stop_after_group:
                return None if self.stop_after_group and not self.abort_mode else ABORTED
            # Every step of the group ends (journaled, settled) before a bug in one of them is raised:
            # a rollback must never undo a sibling whose do is still running.
            results = await asyncio.gather(*(self._do(s) for s in todo), return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    raise r
            failed = [r for r in results if r]
            if failed:
                return "; ".join(failed)
        return ABORTED if self.abort_mode else None

    def _crash(self, step: Step, point: str) -> None:
        want = os.environ.get(CRASH_ENV)
        if want and want in (f"{step.name}:{point}", f"{step.name}@{step.host}:{point}"):
            self.hub.flush()
            os._exit(137)

    async def _do(self, step: Step) -> str | None:
        i = self.seq[id(step)]
        self.journal.set_step(self.ctx.run_id, i, state=StepState.STARTED, started_at=time.time(), ended_at=None,
                              detail=None)
        self.states[i] = StepState.STARTED
        self.emit_step(i, "do", StepState.STARTED)
        self._crash(step, "before")
        detail: str | None = None
        task = asyncio.create_task(step.do(self.rt))
        self.inflight.add(task)
        try:
            await task
            state = StepState.OK
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this coroutine itself was cancelled
            detail = f"{step.host}: {step.name}: interrupted by abort"
            state = await self._settle(step, detail)
        except StepUnknown as exc:
            detail = str(exc)
            state = await self._settle(step, detail)
        except (StepFailed, QmError) as exc:
            state, detail = StepState.FAILED, str(exc)
        finally:
            self.inflight.discard(task)
        self._crash(step, "after_remote")
        self.states[i] = state
        self.journal.set_step(self.ctx.run_id, i, state=state, ended_at=time.time(), detail=detail, data=step.data)
        self.emit_step(i, "do", state, detail)
        self._crash(step, "after_journal")
        if state == StepState.OK:
            return None
        return detail or f"{step.host}: {step.name} failed"

    async def _settle(self, step: Step, detail: str) -> str:
        """An unknown outcome: look at the host, never guess."""
        try:
            verdict = await step.probe(self.rt)
        except (StepFailed, StepUnknown, QmError) as exc:
            self.info(step.host, f"probe of {step.name} failed: {exc}", self.seq[id(step)])
            return StepState.UNKNOWN
        self.info(step.host, f"probe of {step.name}: {verdict.value}", self.seq[id(step)])
        return StepState.OK if verdict is Probe.DONE else StepState.FAILED

    async def _settle_all(self) -> None:
        """Recovery: trust the hosts, not the journal. Steps left started/unknown are probed."""
        for i, step in enumerate(self.steps):
            if self.states[i] not in (StepState.STARTED, StepState.UNKNOWN):
                continue
            try:
                verdict = await step.probe(self.rt)
            except (StepFailed, StepUnknown, QmError) as exc:
                self.info(step.host, f"probe of {step.name} failed: {exc}; treated as unknown", i)
                self.states[i] = StepState.UNKNOWN
                continue
            # not done: nothing happened, the step is simply to be run (or nothing to undo);
            # partial: it must be re-run (resume) or undone (rollback), both idempotent.
            state = SETTLED[verdict]
            self.info(step.host, f"probe of {step.name}: {verdict.value} -> {state}", i)
            self.states[i] = state
            self.journal.set_step(self.ctx.run_id, i, state=state)
            self.emit_step(i, "do", state, f"settled by probe: {verdict.value}")

    # --- rollback -------------------------------------------------------------------------------

    async def _rollback(self, reason: str) -> int:
        self.in_rollback = True
        self.journal.set_run(self.ctx.run_id, state=RunState.ROLLING_BACK, error=reason)
        touched = [s for s in reversed(self.steps)
                   if self.states[self.seq[id(s)]] in TOUCHED
                   and self.undo_states[self.seq[id(s)]] != StepState.OK]
        # Service first (site dir, files, database, maintenance off), the hostmaster's record last.
        todo = [s for s in touched if not s.bookkeeping] + [s for s in touched if s.bookkeeping]
        for group in groups(todo):
            if self.pause_rollback:
                return self._finish(RunState.PAUSED, f"rollback paused by the operator ({reason}); continue with: "
                                              f"qm-tui rollback {self.ctx.run_id}")
            results = await asyncio.gather(*(self._undo(s) for s in group))
            errors = [r for r in results if r]
            if errors:
                remaining = todo[todo.index(group[0]):]
                manual = tuple(c for s in remaining for c in s.undo_commands(self.ctx))
                whole = (f"the site is back whole and online on {self.ctx.source.title}, only the hostmaster's "
                         "record is left: " if all(s.bookkeeping for s in remaining) else "")
                return self._finish(RunState.NEEDS_ATTENTION, f"rollback stopped: {whole}{'; '.join(errors)} "
                                    f"(the {self.op.noun} failed first: {reason}); when the cause is fixed run: "
                                    f"qm-tui rollback {self.ctx.run_id}", manual)
        try:
            problem = self.op.undone_problem(self.ctx, await self.rt.hostmaster_record())
        except QmError as exc:
            return self._finish(RunState.NEEDS_ATTENTION, f"rolled back, but the hostmaster cannot be checked: {exc}")
        if problem:
            return self._finish(RunState.NEEDS_ATTENTION, f"rolled back, but {problem}")
        await self._unlock()
        return self._finish(RunState.ROLLED_BACK, f"{self.op.noun} failed and was rolled back: {reason}")

    async def _record_check(self) -> str:
        """After success: the hostmaster's record as the operation leaves it (its record step checked it
        already; this catches what changed it since, e.g. a task of Aegir's queue). A warning, never a
        rollback: the site itself is whole and online where it now is."""
        try:
            problem = self.op.done_problem(self.ctx, await self.rt.hostmaster_record())
        except QmError as exc:
            problem = f"the hostmaster cannot be checked: {exc}"
        return f"; but {problem}" if problem else ""

    async def _undo(self, step: Step) -> str | None:
        i = self.seq[id(step)]
        self.journal.set_step(self.ctx.run_id, i, undo_state=StepState.STARTED, undo_started_at=time.time())
        self.emit_step(i, "undo", StepState.STARTED)
        self._crash(step, "undo_before")
        deadline = time.monotonic() + self.settings.undo_retry_seconds
        delay = 1.0
        while True:
            try:
                await step.undo(self.rt)
                state, detail = UndoState.OK, None
                break
            except StepFailed as exc:
                state, detail = StepState.FAILED, str(exc)
                break
            except (StepUnknown, TransportError) as exc:
                # The host is unreachable or the connection dropped: undos are idempotent, so wait for
                # it to come back rather than leave the site half rolled back.
                state, detail = StepState.FAILED, str(exc)
                if time.monotonic() + delay > deadline or self.pause_rollback:
                    break
                self.info(step.host, f"undo of {step.name} could not reach the host ({exc}); retrying in "
                          f"{delay:.0f} s", i)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
            except QmError as exc:
                state, detail = StepState.FAILED, str(exc)
                break
            except Exception as exc:  # a bug: stop the rollback here, with the manual commands
                state, detail = StepState.FAILED, f"{step.host}: {step.name}: internal error in undo: {exc!r}"
                break
        self._crash(step, "undo_after_remote")
        self.undo_states[i] = state
        # A successful undo keeps the step's detail (why its do failed).
        self.journal.set_step(self.ctx.run_id, i, undo_state=state, undo_ended_at=time.time(),
                              **({"detail": detail} if detail else {}))
        self.emit_step(i, "undo", state, detail)
        self._crash(step, "undo_after_journal")
        return detail

    # --- lock and clean-up ------------------------------------------------------------------------

    async def _lock(self) -> bool:
        """Every name the run holds, each a mkdir on M (atomic); all or none."""
        ctx = self.ctx
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        owner = lock_owner_line(ctx.run_id, since)
        taken: list[str] = []
        for lock in ctx.lock_dirs:
            cmd = (f"mkdir -p -- {q(lock.rsplit('/', 1)[0])} && mkdir -- {q(lock)} && "
                   f"printf '%s\\n' {q(owner)} > {q(lock + '/owner')}")
            try:
                res = await self.rt.admin(ctx.master, cmd)
                why = "" if res.outcome is Outcome.OK else (
                    (await self.rt.admin(ctx.master, f"cat -- {q(lock + '/owner')}")).stdout.strip()
                    or res.stderr.strip() or res.error or "failed")
            except QmError as exc:  # M unreachable: a lock may or may not have been made
                why, taken = str(exc), [*taken, lock]
            if why:
                try:
                    await self._unlock(taken)  # all or none: the names taken so far are released
                except QmError as exc:
                    why += f" (and the lock(s) {', '.join(taken)} may be left: {exc})"
                self._finish(RunState.ABORTED, f"{ctx.master}: cannot take the lock {lock}: {why}")
                return False
            taken.append(lock)
        return True

    async def _unlock(self, locks: Sequence[str] | None = None) -> None:
        ctx = self.ctx
        for lock in ctx.lock_dirs if locks is None else locks:
            await self.rt.admin(ctx.master, f"if [ -d {q(lock)} ] && grep -q -- {q('run ' + ctx.run_id + ' ')} "
                                f"{q(lock + '/owner')} 2>/dev/null; then rm -f -- {q(lock + '/owner')} "
                                f"&& rmdir -- {q(lock)}; fi")

    async def _kept_aside(self) -> str:
        """Name what live traffic wrote into a verify skeleton and the swap kept aside (never deleted)."""
        from . import fileops

        ctx, found = self.ctx, []
        aside = fileops.swap_aside_dir(ctx.park_dir)
        for host in ctx.files_hosts:
            res = await self.rt.admin(host, f"ls -d -- {q(aside)}/* 2>/dev/null || true")
            found += [f"{host}:{line}" for line in res.stdout.splitlines() if line.strip()]
        if not found:
            return ""
        return ("; live traffic wrote into verify's empty skeleton, kept aside (review, then delete): "
                + ", ".join(found))
