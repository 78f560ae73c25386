"""``qm-tui plan``, ``qm-tui migrate`` and ``qm-tui rename`` (foreground, or ``--detach`` as its own session).

Every operation goes through the same three helpers: prepare-and-check, the typed confirmation, and
the start (foreground with its events printed, or a detached runner followed through the journal).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING

from ..cli import EXIT_USAGE, UsageError, command, config_from
from ..config import Config
from ..engine.journal import Journal
from ..engine.spawn import spawn_runner
from .eventprint import drive
from .output import emit_json

if TYPE_CHECKING:  # the engine (asyncssh) is imported only when a command runs: fast --help
    from ..engine.operations import Prepared
    from ..engine.preflight import Refused
    from ..engine.runner import Runner


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", default=None, help="missing modules block too")
    p.add_argument("--break-lock", action="store_true",
                   help="remove the site's lock on the hostmaster when its runner is dead")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="the site")
    p.add_argument("platform", metavar="PLATFORM", help="target platform: title, context or nid")
    _common(p)


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="the site")
    p.add_argument("platform", metavar="PLATFORM", nargs="?", help="target platform of a migrate")
    p.add_argument("--rename", metavar="NEW_URI", help="plan a rename to NEW_URI instead of a migrate")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _strict(cfg: Config, args: argparse.Namespace) -> bool:
    return cfg.strict if args.strict is None else bool(args.strict)


def _operation(args: argparse.Namespace) -> tuple[str, str]:
    """(kind, argument) the command line names."""
    if getattr(args, "new_uri", None) is not None:
        return "rename", args.new_uri
    if getattr(args, "rename", None):
        if args.platform:
            raise UsageError("plan takes a PLATFORM (migrate) or --rename NEW_URI, not both")
        return "rename", args.rename
    if not args.platform:
        raise UsageError("plan needs a PLATFORM (migrate) or --rename NEW_URI")
    return "migrate", args.platform


async def _prepare(runner: Runner, args: argparse.Namespace, cfg: Config, run_id: str | None = None
                   ) -> tuple[Prepared, list[str]]:
    kind, arg = _operation(args)
    prep = await runner.prepare_op(kind, args.uri, arg, _strict(cfg, args), run_id=run_id)
    if getattr(args, "break_lock", False):
        note = await runner.break_lock(prep)
        if note:
            print(f"qm-tui: {note}", file=sys.stderr)
    return prep, await runner.check(prep)


@command("plan", "preflight and every command of a migrate (or --rename) run, in order; changes nothing",
         _plan_args)
def plan_cmd(args: argparse.Namespace) -> int:
    from ..engine.planning import plan_json, plan_lines
    from ..engine.runner import Runner

    cfg = config_from(args)
    _operation(args)  # a usage error before anything connects
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
        print("\n".join(plan_lines(prep, problems)))
    return 0 if not problems else EXIT_USAGE


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="do not ask to type the confirmation")
    p.add_argument("--json-events", action="store_true", help="print every engine event as a JSON line")
    p.add_argument("--detach", action="store_true",
                   help="run in its own session, immune to this terminal; follow with: qm-tui watch ID")


def _migrate_args(p: argparse.ArgumentParser) -> None:
    _args(p)
    _run_args(p)


def _rename_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="the site")
    p.add_argument("new_uri", metavar="NEW_URI", help="its new name (not used by any site, alias or context)")
    _common(p)
    _run_args(p)


def refused(exc: Refused) -> int:
    print("qm-tui: preflight refused, nothing changed:", file=sys.stderr)
    for p in exc.problems:
        print(f"  - {p}", file=sys.stderr)
    return EXIT_USAGE


def _start(args: argparse.Namespace) -> int:
    """Prepare, check, confirm (unless --yes), check again, then run here or detached."""
    from ..engine.preflight import Refused
    from ..engine.runner import Runner

    cfg = config_from(args)
    _operation(args)

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
        return await drive(runner, cfg, args.json_events, lambda: runner.start(prep, preflighted=True))

    try:
        return asyncio.run(go())
    except Refused as exc:
        return refused(exc)


@command("migrate", "quick-migrate a site to another platform", _migrate_args)
def migrate_cmd(args: argparse.Namespace) -> int:
    return _start(args)


@command("rename", "quick-rename a site (same platform, new domain; its files are renamed, never copied)",
         _rename_args)
def rename_cmd(args: argparse.Namespace) -> int:
    return _start(args)


def runner_argv(kind: str, uri: str, arg: str, run_id: str, strict: bool) -> list[str]:
    """The detached runner's command line (``qm-tui _run``), as the CLI and the TUI start it."""
    return ["_run", kind, uri, arg, "--run-id", run_id, "--strict" if strict else "--no-strict"]


def _detach(cfg: Config, args: argparse.Namespace, prep: Prepared) -> int:
    """Start the runner as its own session and return once it is running (or has refused)."""
    run_id = prep.ctx.run_id
    kind, arg = _operation(args)
    proc, out = spawn_runner(cfg, run_id, runner_argv(kind, args.uri, arg, run_id, _strict(cfg, args)))
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


def _runner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=["migrate", "rename"])
    p.add_argument("uri")
    p.add_argument("arg")
    p.add_argument("--run-id", required=True)
    p.add_argument("--strict", action=argparse.BooleanOptionalAction, default=False)


@command("_run", "", _runner_args)
def detached_runner(args: argparse.Namespace) -> int:
    """The detached runner: no terminal; everything goes to the journal and the run's logs."""
    from ..engine.preflight import Refused
    from ..engine.runner import Runner

    cfg = config_from(args)

    async def go() -> int:
        runner = Runner(cfg)

        async def start() -> int:
            return await runner.start(await runner.prepare_op(args.kind, args.uri, args.arg, args.strict,
                                                              run_id=args.run_id))

        return await drive(runner, cfg, False, start)

    try:
        return asyncio.run(go())
    except Refused as exc:
        return refused(exc)


def _confirm(prep: Prepared) -> None:
    ctx, token = prep.ctx, prep.op.confirm_token(prep.ctx)
    if not sys.stdin.isatty():
        raise UsageError(f"{prep.op.kind} needs --yes when stdin is not a terminal")
    print(prep.op.describe(ctx))
    what = "the new name" if token != ctx.uri else "the site's URI"
    answer = input(f"Type {what} ({token}) to proceed: ").strip()
    if answer != token:
        raise UsageError("confirmation did not match; nothing changed")
