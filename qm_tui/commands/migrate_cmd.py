"""``qm-tui plan`` and ``qm-tui migrate`` (foreground, or ``--detach`` as its own session)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from ..cli import EXIT_USAGE, UsageError, command, config_from
from ..config import Config
from ..engine.journal import Journal
from ..engine.spawn import spawn_runner
from .eventprint import drive
from .output import emit_json

if TYPE_CHECKING:  # the engine (asyncssh) is imported only when a command runs: fast --help
    from ..engine.preflight import Refused
    from ..engine.runner import Prepared, Runner


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="the site")
    p.add_argument("platform", metavar="PLATFORM", help="target platform: title, context or nid")
    p.add_argument("--strict", action="store_true", default=None, help="missing modules block too")
    p.add_argument("--break-lock", action="store_true",
                   help="remove the site's lock on the hostmaster when its runner is dead")


def _plan_args(p: argparse.ArgumentParser) -> None:
    _args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def plan_json(prep: Prepared, problems: list[str]) -> dict[str, Any]:
    ctx = prep.ctx
    return {
        "site": ctx.uri, "source_platform": ctx.source.title, "target_platform": ctx.target.title,
        "hostmaster": ctx.master, "fronts": list(ctx.fronts), "web_server_type": ctx.web_type,
        "ok": not problems, "problems": problems,
        "steps": [{"name": s.name, "host": s.host, "title": s.title, "parallel_group": s.group,
                   "commands": s.commands(ctx)} for s in prep.steps],
    }


def _strict(cfg: Config, args: argparse.Namespace) -> bool:
    return cfg.strict if args.strict is None else bool(args.strict)


async def _prepare(runner: Runner, args: argparse.Namespace, cfg: Config, run_id: str | None = None
                   ) -> tuple[Prepared, list[str]]:
    prep = await runner.prepare(args.uri, args.platform, _strict(cfg, args), run_id=run_id)
    if getattr(args, "break_lock", False):
        note = await runner.break_lock(prep)
        if note:
            print(f"qm-tui: {note}", file=sys.stderr)
    return prep, await runner.check(prep)


@command("plan", "preflight and the ordered steps of a quick migrate (changes nothing)", _plan_args)
def plan_cmd(args: argparse.Namespace) -> int:
    from ..engine.runner import Runner

    cfg = config_from(args)
    args.break_lock = False  # plan never changes anything

    async def go() -> tuple[Prepared, list[str]]:
        runner = Runner(cfg)
        try:
            return await _prepare(runner, args, cfg)
        finally:
            await runner.close()

    prep, problems = asyncio.run(go())
    if args.json:
        emit_json(plan_json(prep, problems))
    else:
        ctx = prep.ctx
        print(f"{ctx.uri}: {ctx.source.title} → {ctx.target.title}  (hostmaster {ctx.master}; "
              f"fronts {', '.join(ctx.fronts)})")
        for i, s in enumerate(prep.steps, 1):
            print(f"{i:2}. [{s.host}] {s.title}" + ("  (in parallel)" if s.group else ""))
            for c in s.commands(ctx):
                print(f"      $ {c}")
        print("preflight: ok" if not problems else "preflight refused:\n  - " + "\n  - ".join(problems))
    return 0 if not problems else EXIT_USAGE


def _migrate_args(p: argparse.ArgumentParser) -> None:
    _args(p)
    p.add_argument("--yes", action="store_true", help="do not ask to type the site's URI")
    p.add_argument("--json-events", action="store_true", help="print every engine event as a JSON line")
    p.add_argument("--detach", action="store_true",
                   help="run in its own session, immune to this terminal; follow with: qm-tui watch ID")


def refused(exc: Refused) -> int:
    print("qm-tui: preflight refused, nothing changed:", file=sys.stderr)
    for p in exc.problems:
        print(f"  - {p}", file=sys.stderr)
    return EXIT_USAGE


@command("migrate", "quick-migrate a site to another platform", _migrate_args)
def migrate_cmd(args: argparse.Namespace) -> int:
    from ..engine.preflight import Refused
    from ..engine.runner import Runner

    cfg = config_from(args)

    async def go() -> int:
        runner = Runner(cfg)
        try:
            prep, problems = await _prepare(runner, args, cfg)
            if not args.yes:
                _confirm(prep)
                problems = await runner.check(prep)  # again: Aegir's queue may have moved while the user read
            if problems:
                raise Refused(problems)
            if args.detach:
                return _detach(cfg, args, prep)
        except BaseException:
            await runner.close()
            raise
        print(f"run {prep.ctx.run_id}", flush=True)
        return await drive(runner, cfg, args.json_events, lambda: runner.migrate(prep, preflighted=True))

    try:
        return asyncio.run(go())
    except Refused as exc:
        return refused(exc)


def _detach(cfg: Config, args: argparse.Namespace, prep: Prepared) -> int:
    """Start the runner as its own session and return once it is running (or has refused)."""
    run_id = prep.ctx.run_id
    proc, out = spawn_runner(cfg, run_id, ["_run", args.uri, args.platform, "--run-id", run_id,
                                           "--strict" if _strict(cfg, args) else "--no-strict"])
    print(f"run {run_id}", flush=True)
    journal = Journal(cfg.state_dir)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.get_run(run_id) is not None:
            print(f"detached: runner pid {proc.pid}; follow with: qm-tui watch {run_id}; "
                  f"stop with: qm-tui abort {run_id}", flush=True)
            return 0
        if proc.poll() is not None:
            sys.stderr.write(out.read_text(errors="replace"))
            return proc.returncode or EXIT_USAGE
        time.sleep(0.1)
    print(f"qm-tui: the runner did not start within 120 s; see {out}", file=sys.stderr)
    return EXIT_USAGE


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri")
    p.add_argument("platform")
    p.add_argument("--run-id", required=True)
    p.add_argument("--strict", action=argparse.BooleanOptionalAction, default=False)


@command("_run", "", _run_args)
def detached_runner(args: argparse.Namespace) -> int:
    """The detached runner: no terminal; everything goes to the journal and the run's logs."""
    from ..engine.preflight import Refused
    from ..engine.runner import Runner

    cfg = config_from(args)

    async def go() -> int:
        runner = Runner(cfg)

        async def start() -> int:
            return await runner.migrate(await runner.prepare(args.uri, args.platform, args.strict,
                                                             run_id=args.run_id))

        return await drive(runner, cfg, False, start)

    try:
        return asyncio.run(go())
    except Refused as exc:
        return refused(exc)


def _confirm(prep: Prepared) -> None:
    ctx = prep.ctx
    if not sys.stdin.isatty():
        raise UsageError("migrate needs --yes when stdin is not a terminal")
    print(f"Migrate {ctx.uri} from {ctx.source.title} to {ctx.target.title} on {', '.join(ctx.fronts)}.")
    answer = input(f"Type the site's URI ({ctx.uri}) to proceed: ").strip()
    if answer != ctx.uri:
        raise UsageError("confirmation did not match; nothing changed")
