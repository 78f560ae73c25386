"""Plans and starts operations (migrate, rename); resumes or rolls back runs recorded in the journal.

``Runner.prepare_op`` turns a site and an operation's argument into a validated context and the ordered
steps (``operations``); ``Runner.start`` preflights and runs them (``execution.Execution`` with the live
runtime); ``Runner.recover`` rebuilds a run from the journal, settles what a crash left unknown by
probing the hosts, then resumes it or rolls it back.
"""

from __future__ import annotations

import re
import shlex

from ..config import Config
from ..errors import QmError
from .events import EventSink
from .execution import EXIT_ATTENTION, EXIT_MIGRATED, EXIT_REFUSED, EXIT_ROLLED_BACK, Execution, Settings
from .journal import Journal, RunRecord, lock_owner_alive, new_run_id
from .operations import Prepared, get_operation
from .operations.migrate import build_steps
from .preflight import Refused
from .runtime import LiveRuntime
from .sweep import SweepRefused
from .transport import TransportPool

__all__ = ["EXIT_ATTENTION", "EXIT_MIGRATED", "EXIT_REFUSED", "EXIT_ROLLED_BACK", "Prepared", "Refused", "Runner",
           "build_steps"]


class RecoveryError(QmError):
    pass


class AlreadyDone(Exception):
    """Recovery of a run that already ended that way: running it again is harmless and does nothing."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Runner:
    def __init__(self, cfg: Config, journal: Journal | None = None) -> None:
        self.cfg = cfg
        self.journal = journal or Journal(cfg.state_dir)
        self.sinks: list[EventSink] = []
        self.pool = TransportPool(cfg.ssh, kill_grace=5.0)
        self.current: Execution | None = None

    def subscribe(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    async def close(self) -> None:
        await self.pool.close_all()

    # --- planning -------------------------------------------------------------------------------

    async def prepare(self, uri: str, platform: str, strict: bool, run_id: str | None = None) -> Prepared:
        """A quick migrate of ``uri`` to ``platform``."""
        return await self.prepare_op("migrate", uri, platform, strict, run_id)

    async def prepare_op(self, kind: str, uri: str, arg: str, strict: bool = False,
                         run_id: str | None = None) -> Prepared:
        """Any operation (``migrate`` to platform ``arg``, ``rename`` to name ``arg``): facts and steps."""
        return await get_operation(kind).prepare(self.cfg, uri, arg, strict, run_id or new_run_id())

    async def break_lock(self, prep: Prepared) -> str | None:
        """Remove the site's lock on M when its owner is not alive (an explicit operator decision)."""
        ctx = prep.ctx
        t = await self.pool.get(ctx.connect_name(ctx.master))
        notes = []
        for lock_dir in ctx.lock_dirs:
            lock = shlex.quote(lock_dir)
            res = await t.run(f"cat -- {lock}/owner 2>/dev/null || [ ! -d {lock} ] || echo unknown owner", timeout=60)
            owner = res.stdout.strip()
            if not owner:
                continue
            m = re.match(r"run (\S+) pid (\d+) on (\S+)", owner)
            if m:
                run = self.journal.get_run(m.group(1))
                # The journal knows the run's current driver; else the line's pid, start time and boot id decide.
                alive = run.runner_alive if run else lock_owner_alive(owner)
                if alive:
                    raise RecoveryError(f"the lock {lock_dir} on {ctx.master} belongs to a live runner ({owner}); "
                                        f"not breaking it")
            await t.run(f"rm -f -- {lock}/owner && rmdir -- {lock}", timeout=60)
            notes.append(f"broke the stale lock {lock_dir} on {ctx.master} ({owner})")
        return "; ".join(notes) or None

    async def check(self, prep: Prepared) -> list[str]:
        # Aegir's queue is read by preflight itself, as late as possible (after any confirmation).
        return await prep.op.preflight(prep, self.pool, self.journal, self.cfg)

    def execution(self, prep: Prepared, states: dict[int, str] | None = None,
                  undo_states: dict[int, str | None] | None = None) -> Execution:
        mc = self.cfg.migrate
        return Execution(LiveRuntime(self.cfg, prep.ctx, self.pool), prep.op, prep.steps, self.journal,
                         self.sinks, Settings(mc.undo_retry_seconds, mc.dump_retention_days), states, undo_states)

    # --- running --------------------------------------------------------------------------------

    async def start(self, prep: Prepared, preflighted: bool = False) -> int:
        """Preflight, lock, run, roll back on failure (any operation). Returns the CLI exit code."""
        problems = [] if preflighted else await self.check(prep)
        if problems:
            raise Refused(problems)
        ctx, steps, summary = prep.ctx, prep.steps, prep.summary
        self.journal.create_run(ctx.run_id, summary.subject, ctx.site.nid, summary.source, summary.target,
                                prep.plan_record(), [(s.name, s.host, s.title) for s in steps])
        execution = self.execution(prep)
        self.current = execution
        return await execution.run()

    # --- recovery -------------------------------------------------------------------------------

    def load(self, run_id: str) -> RunRecord:
        run = self.journal.get_run(run_id)
        if run is None:
            raise RecoveryError(f"no run {run_id!r} in {self.journal.path}")
        return run

    async def recover(self, run_id: str, action: str) -> int:
        """``resume``, ``rollback`` or ``pause`` a run this process does not drive; all idempotent.

        ``pause`` is an abort without rollback of a run whose runner is gone: sweep, probe, stay paused."""
        run = self.load(run_id)
        state = run.public_state
        if state == "running":
            raise RecoveryError(f"run {run_id} is being driven by pid {run.runner_pid} on {run.runner_host}; "
                                f"to stop it: qm-tui abort {run_id}")
        if action == "resume" and state == "succeeded" or action == "rollback" and state == "rolled_back":
            raise AlreadyDone(f"run {run_id} already {state.replace('_', ' ')}: nothing to do",
                              EXIT_MIGRATED if state == "succeeded" else EXIT_ROLLED_BACK)
        if state in ("succeeded", "rolled_back"):
            done = {"resume": "resumed", "rollback": "rolled back", "pause": "paused"}[action]
            raise RecoveryError(f"run {run_id} {state.replace('_', ' ')}; it cannot be {done} "
                                "(start a new migration instead)")
        if action == "resume" and any(s.undo_state for s in run.steps):
            raise RecoveryError(f"run {run_id} had started rolling back; finish that with: qm-tui rollback {run_id}")
        op = get_operation(run.operation)
        ctx = op.context.from_json(self.cfg, run.plan["context"])
        steps = op.steps(ctx)
        if [[s.name, s.host] for s in steps] != [[n, h] for n, h, _t in run.plan["steps"]]:
            raise RecoveryError(f"run {run_id}: the journaled plan does not match this version of qm-tui")
        for step, rec in zip(steps, run.steps, strict=True):
            step.data = dict(rec.data)
        states = {i: rec.state for i, rec in enumerate(run.steps)}
        undo_states = {i: rec.undo_state for i, rec in enumerate(run.steps)}
        execution = self.execution(Prepared(op, ctx, steps), states, undo_states)
        try:
            # Before anything is probed or undone: the dead runner's commands may still be at work.
            await execution.sweep()
        except SweepRefused as exc:
            execution.hub.close()
            raise RecoveryError(f"run {run_id}: {exc}; nothing was changed (run the command again once the "
                                "host answers)") from None
        self.journal.claim(run_id)
        if action != "pause":
            self.journal.set_run(run_id, state="running" if action == "resume" else "rolling_back", ended_at=None)
        self.current = execution
        return await execution.run(mode=action)

    async def migrate(self, prep: Prepared, preflighted: bool = False) -> int:
        return await self.start(prep, preflighted)
