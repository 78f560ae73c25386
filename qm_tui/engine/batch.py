"""Batch migrate: a platform's sites, canary first, then waves, under a failure policy.

Each site is an ordinary quick migrate (its own run, lock, journal record and rollback); the batch only
decides which site starts when. The first ``canary`` eligible sites run one at a time and any failure
stops the batch; the rest run at most ``concurrency`` at a time (one hostmaster: the limit is the
hostmaster's, whatever the fronts). ``on_failure=stop`` lets the running sites finish and starts no new
one; ``continue`` goes on until ``max_failures`` sites have failed. Every site's preflight runs right
before it starts; a refusal skips that site (never touched). An abort (``request``) asks every running
site to abort (each rolls back, or pauses with ``pause``) and starts no new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from ..config import Config
from ..errors import QmError
from . import service
from .batch_journal import ENDED, BatchJournal, BatchRecord, BatchState, SiteVerdict
from .events import EventSink
from .execution import EXIT_ATTENTION, EXIT_MIGRATED, EXIT_REFUSED, EXIT_ROLLED_BACK
from .journal import Journal, new_run_id
from .model import SiteStatus
from .preflight import Refused
from .runner import Runner

POLL = 0.3


@dataclass(frozen=True)
class BatchOptions:
    concurrency: int = 1
    canary: int = 1
    on_failure: str = "stop"  # or "continue"
    max_failures: int | None = None  # with continue: stop once this many failed (None: never)
    strict: bool = False
    post_check: bool = True  # drush status after each site, a failure rolls it back (migrate.post_check)

    def check(self) -> None:
        if self.concurrency < 1 or self.canary < 0:
            raise QmError("--concurrency must be at least 1 and --canary at least 0")
        if self.on_failure not in ("stop", "continue"):
            raise QmError(f"--on-failure must be stop or continue, not {self.on_failure!r}")
        if self.max_failures is not None and self.max_failures < 1:
            raise QmError("--max-failures must be at least 1")


@dataclass
class Candidate:
    """A selected site and whether it may be migrated (every reason when not)."""

    uri: str
    eligible: bool
    reasons: list[str]
    changes: dict[str, int]


async def select(cfg: Config, source: str, target: str, sites: Sequence[str] = (), text: str | None = None,
                 strict: bool = False) -> list[Candidate]:
    """The enabled sites of ``source`` (or the named ones), each with its verdict for ``target``.

    One hostmaster snapshot for the whole selection (a platform may hold hundreds of sites): the lists,
    then every site's packages, then the target's package sets in one query.
    """
    async with service.open_snapshot(cfg, site_counts=False) as hm:
        inv = hm.snapshot.inventory
        src = service.find_platform(inv, source)
        if sites:
            known = {s.uri: s for s in inv.sites}
            missing = [u for u in sites if u not in known]
            if missing:
                raise QmError(f"no site {', '.join(missing)} in the hostmaster")
            chosen = [known[u] for u in dict.fromkeys(sites)]
        else:
            chosen = [s for s in inv.sites if s.platform_nid == src.nid and s.status is SiteStatus.ENABLED]
        if text:
            chosen = [s for s in chosen if text.lower() in s.uri]
        on = [s for s in chosen if s.platform_nid == src.nid]
        verdicts = dict(zip((s.nid for s in on), await hm.verdicts(on, target, strict), strict=True))
    out = []
    for site in chosen:
        v = verdicts.get(site.nid)
        if v is None:
            out.append(Candidate(site.uri, False, [f"not on {src.title} (on {site.platform})"], {}))
            continue
        reasons = list(v.reasons) + ([] if site.status is SiteStatus.ENABLED else [f"site is {site.status.label}"])
        out.append(Candidate(site.uri, v.selectable and not reasons, reasons,
                             {str(k): n for k, n in v.counts.items() if n}))
    return out


def batch_exit(rec: BatchRecord) -> int:
    """0 every eligible site migrated; 1 some failed (each whole on its source); 3 some need attention."""
    if rec.count(SiteVerdict.ATTENTION) or rec.public_state == "interrupted":
        return EXIT_ATTENTION
    if rec.count(SiteVerdict.ROLLED_BACK, SiteVerdict.NOT_STARTED, SiteVerdict.PENDING, SiteVerdict.RUNNING):
        return EXIT_ROLLED_BACK
    return EXIT_MIGRATED


def summary_line(rec: BatchRecord) -> str:
    c = {v: rec.count(v) for v in SiteVerdict}
    parts = [f"{c[SiteVerdict.MIGRATED]} migrated", f"{c[SiteVerdict.ROLLED_BACK]} rolled back",
             f"{c[SiteVerdict.SKIPPED]} skipped", f"{c[SiteVerdict.NOT_STARTED] + c[SiteVerdict.PENDING]} not started"]
    if c[SiteVerdict.ATTENTION]:
        parts.append(f"{c[SiteVerdict.ATTENTION]} NEED ATTENTION")
    return f"batch {rec.id}: {rec.source_platform} → {rec.target_platform}: " + ", ".join(parts)


class BatchRun:
    """Drives one batch in this process. ``say`` gets one line per site event (the CLI prints them)."""

    def __init__(self, cfg: Config, journal: Journal, batch_id: str, target: str, options: BatchOptions,
                 say: Callable[[str], None] = lambda _line: None, sinks: Sequence[EventSink] = ()) -> None:
        self.cfg, self.journal, self.id, self.target, self.options = cfg, journal, batch_id, target, options
        self.bj = BatchJournal(journal)
        self.say, self.sinks = say, sinks
        self.runners: dict[str, Runner] = {}  # site -> its runner, while it runs
        self.stopping: str | None = None  # why no new site starts
        self.abort_kind: str | None = None
        self.failures = 0

    # --- steering -------------------------------------------------------------------------------

    def request(self, kind: str) -> None:
        """``abort`` (every running site rolls back) or ``pause`` (every running site pauses)."""
        if self.abort_kind is None:
            self.abort_kind = kind
            self.stopping = "aborted by the operator"
            self.say(f"batch {self.id}: abort requested: no new site starts; the running ones "
                     f"{'roll back' if kind == 'abort' else 'pause'}")
        for runner in self.runners.values():
            if runner.current is not None:
                runner.current.request(kind)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            self.bj.set(self.id, heartbeat_at=time.time())
            for kind in self.journal.take_requests(self.id):
                self.request("pause" if kind == "pause" else "abort")

    # --- running ----------------------------------------------------------------------------------

    def reopen(self, kind: str) -> list[str]:
        """Before running a batch again: ``resume`` (the sites not done: not started, or whose run was left
        interrupted or paused) or ``retry`` (only the ones that failed and were rolled back). Returns what
        cannot be taken up (needs attention: its run must be finished by hand first)."""
        rec = self.bj.get(self.id)
        assert rec is not None
        held = []
        self.bj.claim(self.id)
        for s in rec.sites:
            if kind == "retry" and s.state == SiteVerdict.ROLLED_BACK:
                self.bj.set_site(self.id, s.seq, state=SiteVerdict.PENDING, reason=None, run_id=None,
                                 started_at=None, ended_at=None)
            elif kind == "resume" and s.state in (SiteVerdict.NOT_STARTED, SiteVerdict.RUNNING):
                run = self.journal.get_run(s.run_id) if s.run_id else None
                state = str(run.public_state) if run else None
                if run is None or state in ("interrupted", "aborted"):
                    self.bj.set_site(self.id, s.seq, state=SiteVerdict.PENDING, reason=None)
                else:  # the site's run ended while the batch's runner was gone
                    verdict = {"succeeded": SiteVerdict.MIGRATED, "rolled_back": SiteVerdict.ROLLED_BACK}.get(
                        state, SiteVerdict.ATTENTION)
                    self.bj.set_site(self.id, s.seq, state=verdict, reason=run.error, ended_at=run.ended_at)
            if s.state == SiteVerdict.ATTENTION:
                held.append(f"{s.site}: its run {s.run_id} needs attention (qm-tui run show {s.run_id})")
        return held

    async def run(self) -> int:
        poll = asyncio.create_task(self._poll())
        try:
            rec = self.bj.get(self.id)
            assert rec is not None
            todo = [s for s in rec.sites if s.state == SiteVerdict.PENDING]
            canary = todo[:self.options.canary]
            for site in canary:
                if self.stopping:
                    break
                verdict = await self._one(site.seq, site.site)
                if verdict in (SiteVerdict.ROLLED_BACK, SiteVerdict.ATTENTION):
                    self.stopping = f"canary {site.site} failed"
            sem = asyncio.Semaphore(self.options.concurrency)

            async def wave(seq: int, uri: str) -> None:
                async with sem:
                    if not self.stopping:
                        await self._one(seq, uri)

            await asyncio.gather(*(wave(s.seq, s.site) for s in todo[len(canary):]))
        finally:
            poll.cancel()
        return self._finish()

    def _finish(self) -> int:
        rec = self.bj.get(self.id)
        assert rec is not None
        for s in rec.sites:
            if s.state in (SiteVerdict.PENDING, SiteVerdict.RUNNING):
                self.bj.set_site(self.id, s.seq, state=SiteVerdict.NOT_STARTED,
                                 reason=s.reason or self.stopping or "not started")
        rec = self.bj.get(self.id)
        assert rec is not None
        state = BatchState.ABORTED if self.abort_kind else BatchState.STOPPED if self.stopping else BatchState.DONE
        self.bj.set(self.id, state=state, ended_at=time.time(), summary=summary_line(rec))
        rec = self.bj.get(self.id)
        assert rec is not None
        return batch_exit(rec)

    def _failed(self, uri: str) -> None:
        self.failures += 1
        o = self.options
        if o.on_failure == "stop":
            self.stopping = self.stopping or f"{uri} failed (--on-failure stop)"
        elif o.max_failures is not None and self.failures >= o.max_failures:
            self.stopping = self.stopping or f"{self.failures} sites failed (--max-failures {o.max_failures})"

    async def _one(self, seq: int, uri: str) -> SiteVerdict:
        """One site: plan, preflight (right before it acts), the migrate; its verdict is journaled. A site
        whose run a dead batch runner left interrupted or paused gets that run resumed instead."""
        cfg = replace(self.cfg, migrate=replace(self.cfg.migrate, post_check=self.options.post_check))
        runner = Runner(cfg, self.journal)
        for sink in self.sinks:
            runner.subscribe(sink)
        rec = self.bj.get(self.id)
        left = next((s.run_id for s in rec.sites if s.seq == seq), None) if rec else None
        run_id = left or new_run_id()
        started = time.time()
        self.bj.set_site(self.id, seq, state=SiteVerdict.RUNNING, started_at=started)
        try:
            if left:
                self.runners[uri] = runner
                self.say(f"{uri}: resuming run {left}")
                try:
                    code = await runner.recover(left, "resume")
                except QmError as exc:
                    self.bj.set_site(self.id, seq, state=SiteVerdict.ATTENTION, reason=str(exc), ended_at=time.time())
                    self.say(f"{uri}: {exc}")
                    self._failed(uri)
                    return SiteVerdict.ATTENTION
                return self._ended(seq, uri, run_id, code, started)
            try:
                prep = await runner.prepare(uri, self.target, self.options.strict, run_id=run_id)
                problems = await runner.check(prep)
                if problems:
                    raise Refused(problems)
            except QmError as exc:  # not eligible any more, or refused: the site was never touched
                why = "; ".join(exc.problems) if isinstance(exc, Refused) else str(exc)
                self.bj.set_site(self.id, seq, state=SiteVerdict.SKIPPED, reason=f"refused: {why}",
                                 ended_at=time.time())
                self.say(f"{uri}: skipped: {why}")
                return SiteVerdict.SKIPPED
            if self.stopping:  # stopped while this one was being checked
                self.bj.set_site(self.id, seq, state=SiteVerdict.PENDING, started_at=None)
                return SiteVerdict.PENDING
            self.runners[uri] = runner
            self.bj.set_site(self.id, seq, run_id=run_id)
            self.say(f"{uri}: started (run {run_id})")
            code = await runner.start(prep, preflighted=True)
        finally:
            self.runners.pop(uri, None)
            await runner.close()
        return self._ended(seq, uri, run_id, code, started)

    def _ended(self, seq: int, uri: str, run_id: str, code: int, started: float) -> SiteVerdict:
        verdict = {EXIT_MIGRATED: SiteVerdict.MIGRATED, EXIT_ROLLED_BACK: SiteVerdict.ROLLED_BACK,
                   EXIT_REFUSED: SiteVerdict.SKIPPED}.get(code, SiteVerdict.ATTENTION)
        run = self.journal.get_run(run_id)
        reason = None if verdict == SiteVerdict.MIGRATED else (run.error if run else None)
        self.bj.set_site(self.id, seq, state=verdict, reason=reason, ended_at=time.time())
        self.say(f"{uri}: {verdict} in {time.time() - started:.1f} s" + (f": {reason}" if reason else ""))
        if verdict in (SiteVerdict.ROLLED_BACK, SiteVerdict.ATTENTION):
            self._failed(uri)
        return verdict


def create_batch(journal: Journal, source: str, target: str, options: BatchOptions,
                 candidates: Sequence[Candidate]) -> str:
    batch_id = "b" + new_run_id()
    rows = [(c.uri, SiteVerdict.PENDING if c.eligible else SiteVerdict.SKIPPED,
             None if c.eligible else "; ".join(c.reasons), c.changes) for c in candidates]
    BatchJournal(journal).create(batch_id, source, target, asdict(options), rows)
    return batch_id


__all__ = ["ENDED", "BatchOptions", "BatchRun", "Candidate", "batch_exit", "create_batch", "select", "summary_line"]
