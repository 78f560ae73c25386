"""``watch``, ``abort``, ``resume`` and ``rollback``: follow and steer runs from any terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from ..cli import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, UsageError, command, config_from
from ..engine.follow import EVENTS_PAGE, RunFollower
from ..engine.journal import Journal, RunRecord
from ..engine.states import ENDED_WHOLE, PublicState, Request
from .eventprint import drive

ABORT_ANSWER_SECONDS = 5.0
WATCH_POLL = 0.3
WATCH_PAGE = EVENTS_PAGE  # output lines read per poll at most; a full page is followed by the next at once


def _id_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="ID")


def _watch_args(p: argparse.ArgumentParser) -> None:
    _id_args(p)
    p.add_argument("--no-output", action="store_true", help="only step changes, not the hosts' output")


def _journal(args: argparse.Namespace, read_only: bool = False) -> Journal:
    cfg = config_from(args)
    try:
        return Journal(cfg.state_dir, read_only=read_only)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None


def _no_run(journal: Journal, run_id: str) -> UsageError:
    return UsageError(f"no run {run_id!r} in {journal.path}")


def _load(journal: Journal, run_id: str) -> RunRecord:
    run = journal.get_run(run_id)
    if run is None:
        raise _no_run(journal, run_id)
    return run


@command("watch", "follow a run live (Ctrl-C stops watching; the run goes on)", _watch_args)
def watch_cmd(args: argparse.Namespace) -> int:
    journal = _journal(args, read_only=True)
    from .batch_cmd import is_batch, watch_batch

    if is_batch(journal, args.run_id):
        return watch_batch(journal, args.run_id)
    follower = RunFollower(journal, args.run_id, page=WATCH_PAGE)
    snap = follower.poll()
    if snap.run is None:
        raise _no_run(journal, args.run_id)
    run = snap.run
    print(f"run {run.id}: {run.site} {run.source_platform} → {run.target_platform}", flush=True)
    try:
        while True:
            run = snap.run
            if run is None:
                raise _no_run(journal, args.run_id)
            for change in snap.changes:
                s, took = change.step, change.duration
                print(f"[{s.host}] {s.name}: {change.state}" + (f" ({took:.1f} s)" if took is not None else "")
                      + (f" — {s.detail}" if s.detail else ""), flush=True)
            for _id, _ts, _seq, host, stream, line in snap.events:
                if not args.no_output or stream == "info":
                    print(f"[{host}] {'$ ' if stream == 'cmd' else ''}{line}", flush=True)
            # After a full page the next one at once: a flood never leaves the watcher behind, nor a
            # run's last lines unprinted when it ends.
            if not snap.more:
                if not snap.live:
                    state = run.public_state
                    print(f"{state}" + (f": {run.error}" if run.error else ""), flush=True)
                    return EXIT_OK if state in ENDED_WHOLE else EXIT_ATTENTION
                time.sleep(WATCH_POLL)
            snap = follower.poll()
    except KeyboardInterrupt:
        print(f"\nstopped watching; the run goes on (qm-tui watch {args.run_id})", file=sys.stderr)
        return EXIT_OK


def _abort_args(p: argparse.ArgumentParser) -> None:
    _id_args(p)
    p.add_argument("--no-rollback", action="store_true",
                   help="stop and stay paused instead of rolling back (then: resume or rollback)")


@command("abort", "ask a running migration to stop (and roll back, by default)", _abort_args)
def abort_cmd(args: argparse.Namespace) -> int:
    journal = _journal(args)
    from .batch_cmd import abort_batch, is_batch

    if is_batch(journal, args.run_id):
        return abort_batch(journal, args.run_id, args.no_rollback)
    run = _load(journal, args.run_id)
    if run.public_state == PublicState.INTERRUPTED:
        # Its runner is gone but its remote commands may not be: stop them, then roll back or pause.
        print(f"run {run.id}: its runner is gone; stopping what it left running on every host, then "
              f"{'pausing' if args.no_rollback else 'rolling back'}", flush=True)
        return _recover(args, "pause" if args.no_rollback else "rollback")
    if run.public_state != PublicState.RUNNING:
        print(f"qm-tui: run {run.id} is not running ({run.public_state})", file=sys.stderr)
        return EXIT_USAGE
    req = journal.request(run.id, Request.PAUSE if args.no_rollback else Request.ABORT)
    deadline = time.monotonic() + ABORT_ANSWER_SECONDS
    while time.monotonic() < deadline:
        if journal.request_handled(req):
            what = "stopping and pausing" if args.no_rollback else "stopping and rolling back"
            print(f"run {run.id}: abort acknowledged by runner pid {run.runner_pid}; {what} "
                  f"(follow with: qm-tui watch {run.id})")
            return EXIT_OK
        time.sleep(0.1)
    print(f"qm-tui: run {run.id}: the runner (pid {run.runner_pid}) did not answer within "
          f"{ABORT_ANSWER_SECONDS:.0f} s; the request stays queued", file=sys.stderr)
    return EXIT_ATTENTION


def _recover(args: argparse.Namespace, action: str) -> int:
    from ..engine.runner import AlreadyDone, Runner

    cfg = config_from(args)

    async def go() -> int:
        runner = Runner(cfg)
        json_lines = getattr(args, "json_events", False)
        return await drive(runner, cfg, json_lines, lambda: runner.recover(args.run_id, action))

    try:
        return asyncio.run(go())
    except AlreadyDone as done:
        print(str(done))
        return done.code


def _recover_args(p: argparse.ArgumentParser) -> None:
    _id_args(p)
    p.add_argument("--json-events", action="store_true", help="print every engine event as a JSON line")


@command("resume", "finish an interrupted run (after probing what the hosts really show)", _recover_args)
def resume_cmd(args: argparse.Namespace) -> int:
    from .batch_cmd import is_batch, reopen_batch

    journal = _journal(args)
    if is_batch(journal, args.run_id):
        return reopen_batch(config_from(args), journal, args.run_id, "resume", args.json_events)
    return _recover(args, "resume")


@command("rollback", "undo an interrupted, paused or stuck run (after probing the hosts)", _recover_args)
def rollback_cmd(args: argparse.Namespace) -> int:
    return _recover(args, "rollback")
