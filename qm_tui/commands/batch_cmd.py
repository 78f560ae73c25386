"""``qm-tui batch FROM TO``: a platform's sites in a canary and waves; ``batches``; ``batch show ID``.

Without ``--yes`` a batch is a dry run: every selected site, eligible or every reason why not, and the
policy; nothing changes. With ``--yes`` it runs here (Ctrl-C aborts it: every running site rolls back,
a second one pauses them) or ``--detach``-ed as its own session; ``qm-tui abort ID`` aborts it from
another terminal. Exit codes: 0 every eligible site migrated, 1 some failed (each whole on its source),
2 refused (nothing eligible, bad options), 3 some need attention.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from ..cli import EXIT_OK, EXIT_USAGE, UsageError, command, config_from
from ..config import Config
from ..engine.batch_journal import BatchJournal, BatchRecord
from ..engine.journal import Journal
from ..engine.spawn import spawn_runner
from .eventprint import Printer
from .output import emit_json, fmt_time, print_table

if TYPE_CHECKING:
    from ..engine.batch import BatchOptions, Candidate


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="FROM_PLATFORM", help="the platform whose sites move ('show': see batch show)")
    p.add_argument("target", metavar="TO_PLATFORM", help="where they go (or, after 'show', a batch ID)")
    p.add_argument("--sites", nargs="+", metavar="URI", help="only these sites (default: every enabled one)")
    p.add_argument("--filter", metavar="TEXT", help="only sites whose name contains TEXT")
    p.add_argument("--concurrency", type=int, default=1, metavar="N", help="sites at a time after the canary")
    p.add_argument("--canary", type=int, default=1, metavar="N", help="first N sites alone; any failure stops")
    p.add_argument("--on-failure", choices=["stop", "continue"], default="stop",
                   help="stop: let running sites finish, start no new one (default)")
    p.add_argument("--max-failures", type=int, metavar="K", help="with continue: stop after K failed sites")
    p.add_argument("--strict", action="store_true", default=None, help="missing modules block too")
    p.add_argument("--no-post-check", action="store_true",
                   help="skip the check after each site (drush status must bootstrap it from its new place)")
    p.add_argument("--yes", action="store_true", help="run it (without: a dry run, nothing changes)")
    p.add_argument("--detach", action="store_true", help="run in its own session; follow with: qm-tui watch ID")
    p.add_argument("--json-events", action="store_true", help="every engine event of every site as a JSON line")
    p.add_argument("--json", action="store_true", help="machine-readable dry run or report")


def _options(cfg: Config, args: argparse.Namespace) -> BatchOptions:
    from ..engine.batch import BatchOptions

    opts = BatchOptions(args.concurrency, args.canary, args.on_failure, args.max_failures,
                        cfg.strict if args.strict is None else bool(args.strict), not args.no_post_check)
    opts.check()
    if args.max_failures is not None and args.on_failure != "continue":
        raise UsageError("--max-failures applies to --on-failure continue")
    return opts


def candidates_json(cands: list[Candidate]) -> list[dict[str, Any]]:
    return [{"site": c.uri, "eligible": c.eligible, "reasons": c.reasons, "changes": c.changes} for c in cands]


@command("batch", "quick-migrate a platform's sites: a canary, then waves, under a failure policy", _args)
def batch_cmd(args: argparse.Namespace) -> int:
    if args.source == "show":
        return _show(args)
    from ..engine import batch
    from ..engine.service import run_sync

    cfg = config_from(args)
    opts = _options(cfg, args)
    cands = run_sync(batch.select(cfg, args.source, args.target, args.sites or (), args.filter, opts.strict))
    eligible = [c for c in cands if c.eligible]
    if not args.yes:
        if args.json:
            emit_json({"source_platform": args.source, "target_platform": args.target, "options": vars(opts),
                       "sites": candidates_json(cands), "eligible": len(eligible)})
        else:
            print(f"batch {args.source} → {args.target}: {len(eligible)} of {len(cands)} sites eligible; canary "
                  f"{opts.canary}, then {opts.concurrency} at a time; on failure {opts.on_failure}"
                  + (f" (at most {opts.max_failures})" if opts.max_failures else ""))
            for c in cands:
                print(f"  {'eligible' if c.eligible else 'skip    '}  {c.uri}"
                      + ("" if c.eligible else f"  — {'; '.join(c.reasons)}"))
            print("dry run: nothing changed; run it with --yes")
        return EXIT_OK if eligible else EXIT_USAGE
    if not eligible:
        print(f"qm-tui: no eligible site on {args.source} for {args.target}; nothing changed", file=sys.stderr)
        return EXIT_USAGE
    journal = Journal(cfg.state_dir)
    batch_id = batch.create_batch(journal, args.source, args.target, opts, cands)
    print(f"batch {batch_id}", flush=True)
    if args.detach:
        proc, _out = spawn_runner(cfg, batch_id, ["_batch", batch_id])
        print(f"detached: batch runner pid {proc.pid}; follow with: qm-tui watch {batch_id}; "
              f"stop with: qm-tui abort {batch_id}", flush=True)
        return EXIT_OK
    return _drive(cfg, journal, batch_id, args.json_events, args.json)


def _drive(cfg: Config, journal: Journal, batch_id: str, json_events: bool, as_json: bool = False) -> int:
    from ..engine.batch import BatchOptions, BatchRun

    rec = BatchJournal(journal).get(batch_id)
    assert rec is not None
    printer = Printer(json_events)
    say = (lambda line: None) if json_events else (lambda line: printer.line(line))
    run = BatchRun(cfg, journal, batch_id, rec.target_platform, BatchOptions(**rec.options), say,
                   [printer] if json_events else [])

    async def go() -> int:
        loop = asyncio.get_running_loop()
        hits = {"n": 0}

        def interrupt() -> None:
            hits["n"] += 1
            run.request("abort" if hits["n"] == 1 else "pause")

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupt)
        loop.add_signal_handler(signal.SIGHUP, printer.silence)  # a hang-up never stops a batch
        return await run.run()

    code = asyncio.run(go())
    final = BatchJournal(journal).get(batch_id)
    assert final is not None
    if as_json:
        emit_json(batch_json(final))
    elif not printer.dead:
        report(final)
    return code


def batch_json(b: BatchRecord) -> dict[str, Any]:
    return {"id": b.id, "source_platform": b.source_platform, "target_platform": b.target_platform,
            "state": b.public_state, "options": b.options, "started_at": fmt_time(b.started_at),
            "ended_at": fmt_time(b.ended_at), "summary": b.summary,
            "sites": [{"site": s.site, "verdict": str(s.state), "reason": s.reason, "run_id": s.run_id,
                       "seconds": round(s.seconds, 1) if s.seconds is not None else None, "changes": s.changes}
                      for s in b.sites]}


def report(b: BatchRecord) -> None:
    print_table(f"batch {b.id}: {b.source_platform} → {b.target_platform} ({b.public_state})",
                ["site", "verdict", "time", "changes", "run", "reason"],
                [[s.site, str(s.state), f"{s.seconds:.0f} s" if s.seconds is not None else "",
                  ", ".join(f"{n} {k}" for k, n in s.changes.items()), s.run_id or "", s.reason or ""]
                 for s in b.sites])
    if b.summary:
        print(b.summary)


def _load(journal: Journal, batch_id: str) -> BatchRecord:
    rec = BatchJournal(journal).get(batch_id)
    if rec is None:
        raise UsageError(f"no batch {batch_id!r} in {journal.path}")
    return rec


def _show(args: argparse.Namespace) -> int:
    from ..engine.batch import batch_exit

    journal = Journal(config_from(args).state_dir)
    rec = _load(journal, args.target)
    if args.json:
        emit_json(batch_json(rec))
    else:
        report(rec)
    return batch_exit(rec) if rec.public_state != "running" else EXIT_OK


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("batches", "list batches from the journal", _list_args)
def batches_cmd(args: argparse.Namespace) -> int:
    journal = Journal(config_from(args).state_dir)
    recs = BatchJournal(journal).list()
    if args.json:
        emit_json([batch_json(b) for b in recs])
        return EXIT_OK
    print_table(f"{len(recs)} batches", ["batch", "from", "to", "state", "sites", "started", "summary"],
                [[b.id, b.source_platform, b.target_platform, b.public_state, str(len(b.sites)),
                  fmt_time(b.started_at) or "", (b.summary or "").split(": ", 2)[-1]] for b in recs])
    return EXIT_OK


def _runner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("batch_id")


@command("_batch", "", _runner_args)
def batch_runner(args: argparse.Namespace) -> int:
    """The detached batch runner: everything goes to the journal."""
    cfg = config_from(args)
    journal = Journal(cfg.state_dir)
    _load(journal, args.batch_id)
    BatchJournal(journal).claim(args.batch_id)
    return _drive(cfg, journal, args.batch_id, False)


def reopen_batch(cfg: Config, journal: Journal, batch_id: str, kind: str, json_events: bool) -> int:
    """``resume ID`` (the sites not done) or ``retry ID`` (the failed ones) of a batch, here."""
    from ..engine.batch import BatchOptions, BatchRun

    rec = _load(journal, batch_id)
    if rec.public_state == "running":
        raise UsageError(f"batch {batch_id} is running (pid {rec.runner_pid}); to stop it: qm-tui abort {batch_id}")
    held = BatchRun(cfg, journal, batch_id, rec.target_platform, BatchOptions(**rec.options)).reopen(kind)
    for line in held:
        print(f"qm-tui: {line}", file=sys.stderr)
    print(f"batch {batch_id}: {kind}", flush=True)
    return _drive(cfg, journal, batch_id, json_events)


def _retry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("batch_id", metavar="ID")
    p.add_argument("--json-events", action="store_true", help="every engine event as a JSON line")


@command("retry", "run a batch's failed (rolled back) sites again, in the same batch", _retry_args)
def retry_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    return reopen_batch(cfg, Journal(cfg.state_dir), args.batch_id, "retry", args.json_events)


def watch_batch(journal: Journal, batch_id: str, poll: float = 0.5) -> int:
    """``qm-tui watch ID`` of a batch: a line per site as its verdict changes, then the report."""
    from ..engine.batch import batch_exit

    seen: dict[int, str] = {}
    rec = _load(journal, batch_id)
    print(f"batch {rec.id}: {rec.source_platform} → {rec.target_platform}", flush=True)
    try:
        while True:
            rec = _load(journal, batch_id)
            for s in rec.sites:
                key = f"{s.state}{s.run_id or ''}"
                if seen.get(s.seq) != key:
                    seen[s.seq] = key
                    print(f"{s.site}: {s.state}" + (f" (run {s.run_id})" if s.run_id else "")
                          + (f": {s.reason}" if s.reason else ""), flush=True)
            if rec.public_state != "running":
                print(rec.summary or rec.public_state, flush=True)
                return batch_exit(rec)
            time.sleep(poll)
    except KeyboardInterrupt:
        print(f"\nstopped watching; the batch goes on (qm-tui watch {batch_id})", file=sys.stderr)
        return EXIT_OK


def abort_batch(journal: Journal, batch_id: str, pause: bool) -> int:
    rec = _load(journal, batch_id)
    if rec.public_state != "running":
        print(f"qm-tui: batch {batch_id} is not running ({rec.public_state})", file=sys.stderr)
        return EXIT_USAGE
    req = journal.request(batch_id, "pause" if pause else "abort")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if journal.request_handled(req):
            print(f"batch {batch_id}: abort acknowledged; no new site starts, the running ones "
                  f"{'pause' if pause else 'roll back'} (follow with: qm-tui watch {batch_id})")
            return EXIT_OK
        time.sleep(0.1)
    print(f"qm-tui: batch {batch_id}: the runner did not answer within 5 s; the request stays queued",
          file=sys.stderr)
    return 3


def is_batch(journal: Journal, some_id: str) -> bool:
    try:
        return BatchJournal(journal).get(some_id) is not None
    except Exception:  # an older journal without the batch tables  # noqa: BLE001
        return False


__all__ = ["abort_batch", "is_batch", "reopen_batch", "watch_batch"]
