"""``qm-tui runs`` and ``qm-tui run show ID``: migration history from the journal."""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import EXIT_OK, UsageError, command, config_from
from ..engine.journal import Journal, RunRecord
from ..engine.states import NEEDS_OPERATOR, effective_state
from .output import emit_json, fmt_time, print_table


def run_json(r: RunRecord, with_steps: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": r.id, "operation": r.operation, "site": r.site, "source_platform": r.source_platform,
        "target_platform": r.target_platform,
        "state": r.public_state, "started_at": fmt_time(r.started_at), "ended_at": fmt_time(r.ended_at),
        "runner_pid": r.runner_pid, "error": r.error,
    }
    if with_steps:
        d["steps"] = [{"name": s.name, "host": s.host, "state": effective_state(s),
                       "started_at": fmt_time(s.started_at), "ended_at": fmt_time(s.undo_ended_at or s.ended_at),
                       "detail": s.detail}
                      for s in r.steps]
    return d


def _runs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("runs", "list migrations from the journal (interrupted ones first)", _runs_args)
def runs_cmd(args: argparse.Namespace) -> int:
    journal = Journal(config_from(args).state_dir)
    runs = journal.list_runs()
    # Interrupted runs need an operator: list them first.
    runs.sort(key=lambda r: (r.public_state not in NEEDS_OPERATOR, -r.started_at))
    if args.json:
        emit_json([run_json(r) for r in runs])
        return EXIT_OK
    print_table(f"{len(runs)} runs", ["run", "site", "from", "to", "state", "started"],
                [[r.id, r.site, r.source_platform or "", r.target_platform or "",
                  r.public_state.upper() if r.public_state in NEEDS_OPERATOR else r.public_state,
                  fmt_time(r.started_at) or ""] for r in runs])
    return EXIT_OK


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"], help="show one run")
    p.add_argument("run_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("run", "show one run: steps, states and timings", _show_args)
def run_cmd(args: argparse.Namespace) -> int:
    journal = Journal(config_from(args).state_dir)
    run = journal.get_run(args.run_id)
    if run is None:
        raise UsageError(f"no run {args.run_id!r} in {journal.path}")
    if args.json:
        emit_json(run_json(run))
        return EXIT_OK
    print(f"run {run.id}: {run.operation} {run.site} {run.source_platform} → {run.target_platform}: "
          f"{run.public_state}")
    if run.error:
        print(f"  {run.error}")
    print_table("steps", ["#", "host", "step", "state", "detail"],
                [[str(s.seq + 1), s.host, s.name, effective_state(s), s.detail or ""] for s in run.steps])
    return EXIT_OK
