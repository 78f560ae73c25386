"""Plans and starts quick migrates; resumes or rolls back runs recorded in the journal.

``Runner.prepare`` turns a site and a target into a validated context and the ordered steps;
``Runner.migrate`` preflights and runs them (``execution.Execution``); ``Runner.recover`` rebuilds a
run from the journal, settles what a crash left unknown by probing the hosts, then resumes it or
rolls it back.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..config import Config
from ..errors import QmError
from . import drush, service
from .eligibility import TargetVerdict
from .events import EventSink
from .execution import EXIT_ATTENTION, EXIT_MIGRATED, EXIT_REFUSED, EXIT_ROLLED_BACK, Execution
from .hostmaster_db import HostmasterDB
from .journal import Journal, RunRecord, lock_owner_alive, new_run_id
from .model import Platform, PlatformStatus, Site, SiteStatus
from .plan import MigrationContext, build_context
from .preflight import Refused, preflight
from .steps import (
    AegirVerifyTask,
    CacheClear,
    DumpDb,
    FetchCode,
    HostingImport,
    Maintenance,
    MoveSiteDir,
    ParkFiles,
    ProvisionSave,
    PushSite,
    RemoveOldAliases,
    RemoveOldSiteDir,
    RestoreFiles,
    Step,
    UpdateDb,
    Verify,
)
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


def build_steps(ctx: MigrationContext) -> list[Step]:
    steps: list[Step] = [Maintenance(ctx, True), DumpDb(ctx)]
    steps += [ParkFiles(ctx, h) for h in ctx.files_hosts]
    if ctx.authoritative_front:
        steps.append(FetchCode(ctx))
    # Verify before updatedb, as provision's deploy rewrites settings.php first: the old settings.php
    # includes the source platform's settings and the site's local.settings.php by absolute path,
    # gone with the move, so updates would run without the site's own overrides.
    steps += [MoveSiteDir(ctx), ProvisionSave(ctx), Verify(ctx), UpdateDb(ctx), CacheClear(ctx)]
    steps += [PushSite(ctx, f) for f in ctx.remote_fronts]
    steps += [RestoreFiles(ctx, h) for h in ctx.files_hosts]
    steps += [RemoveOldSiteDir(ctx, f) for f in ctx.remote_fronts]
    steps += [RemoveOldAliases(ctx, h) for h in (ctx.master, *ctx.remote_fronts)]
    steps.append(HostingImport(ctx))
    if ctx.aegir_verify_task:
        steps.append(AegirVerifyTask(ctx))
    steps.append(Maintenance(ctx, False))
    return steps


@dataclass
class Prepared:
    ctx: MigrationContext
    verdict: TargetVerdict
    steps: list[Step]


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
        st = await service.targets(self.cfg, uri, strict=strict, only=platform)
        verdict = st.verdicts[0]
        servers = st.snapshot.servers
        web = servers.get(st.source.web_server)
        master_title = next((s.title for s in servers.values() if s.context == "server_master"),
                            self.cfg.hostmaster.server)
        async with HostmasterDB(self.cfg.hostmaster.db) as db:
            aliases = await db.site_aliases(st.site.nid)
        masters = [servers[m].title for m, kind in st.snapshot.members.get(st.source.web_server, [])
                   if kind == "master" and m in servers]
        ctx = build_context(self.cfg, run_id or new_run_id(), st.site, st.source, verdict.platform,
                            master_title, web.http_type if web else None,
                            verdict.profile.short_name if verdict.profile else None, aliases, masters)
        return Prepared(ctx, verdict, build_steps(ctx))

    async def break_lock(self, prep: Prepared) -> str | None:
        """Remove the site's lock on M when its owner is not alive (an explicit operator decision)."""
        ctx = prep.ctx
        t = await self.pool.get(ctx.connect_name(ctx.master))
        lock = shlex.quote(ctx.lock_dir)
        res = await t.run(f"cat -- {lock}/owner 2>/dev/null || [ ! -d {lock} ] || echo unknown owner", timeout=60)
        owner = res.stdout.strip()
        if not owner:
            return None
        m = re.match(r"run (\S+) pid (\d+) on (\S+)", owner)
        if m:
            run = self.journal.get_run(m.group(1))
            # The journal knows the run's current driver; else the line's pid, start time and boot id decide.
            alive = run.runner_alive if run else lock_owner_alive(owner)
            if alive:
                raise RecoveryError(f"the lock {ctx.lock_dir} on {ctx.master} belongs to a live runner ({owner}); "
                                    f"not breaking it")
        await t.run(f"rm -f -- {lock}/owner && rmdir -- {lock}", timeout=60)
        return f"broke the stale lock {ctx.lock_dir} on {ctx.master} ({owner})"

    async def check(self, prep: Prepared) -> list[str]:
        # Aegir's queue is read by preflight itself, as late as possible (after any confirmation).
        return await preflight(prep.ctx, prep.verdict, self.pool, self.journal, self.cfg.hostmaster.db)

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
        ctx = _ctx_from_json(self.cfg, run.plan["context"])
        steps = build_steps(ctx)
        if [[s.name, s.host] for s in steps] != [[n, h] for n, h, _t in run.plan["steps"]]:
            raise RecoveryError(f"run {run_id}: the journaled plan does not match this version of qm-tui")
        for step, rec in zip(steps, run.steps, strict=True):
            step.data = dict(rec.data)
        states = {i: rec.state for i, rec in enumerate(run.steps)}
        undo_states = {i: rec.undo_state for i, rec in enumerate(run.steps)}
        execution = Execution(self, ctx, steps, states, undo_states)
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




def _ctx_json(ctx: MigrationContext) -> dict[str, object]:
    d = asdict(ctx)
    d.pop("templates", None)
    return d


def _ctx_from_json(cfg: Config, d: dict[str, Any]) -> MigrationContext:
    """The context journaled at the start of a run (templates come from today's config)."""
    site = dict(d["site"])
    site["status"] = SiteStatus(site["status"])
    site["fronts"] = tuple(site.get("fronts") or ())
    plats = []
    for key in ("source", "target"):
        p = dict(d[key])
        p["status"] = PlatformStatus(p["status"])
        p["fronts"] = tuple(p.get("fronts") or ())
        plats.append(Platform(**p))
    names = {f.name for f in fields(MigrationContext)}
    values = {k: v for k, v in d.items() if k in names and k not in ("site", "source", "target")}
    values["fronts"] = tuple(values.get("fronts") or ())
    values["templates"] = drush.merge_templates(cfg.migrate.templates)
    return MigrationContext(site=Site(**site), source=plats[0], target=plats[1], **values)
