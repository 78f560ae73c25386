"""``qm-tui plan`` and ``qm-tui migrate``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..cli import EXIT_USAGE, UsageError, command, config_from
from ..engine.events import Event, Output, RunFinished, RunStarted, StepChanged, event_json
from ..engine.preflight import Refused
from ..engine.runner import Prepared, Runner
from .output import emit_json


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="the site")
    p.add_argument("platform", metavar="PLATFORM", help="target platform: title, context or nid")
    p.add_argument("--strict", action="store_true", default=None, help="missing modules block too")


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


@command("plan", "preflight and the ordered steps of a quick migrate (changes nothing)", _plan_args)
def plan_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    strict = cfg.strict if args.strict is None else args.strict

    async def go() -> tuple[Prepared, list[str]]:
        runner = Runner(cfg)
        try:
            prep = await runner.prepare(args.uri, args.platform, strict)
            return prep, await runner.check(prep)
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


class _Printer:
    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            print(json.dumps(event_json(ev), ensure_ascii=False), flush=True)
            return
        if isinstance(ev, RunStarted):
            print(f"{ev.site}: {ev.source} → {ev.target}, {len(ev.steps)} steps", flush=True)
        elif isinstance(ev, StepChanged):
            if ev.state != "started" or ev.phase == "undo":
                mark = {"ok": "ok", "failed": "FAILED", "unknown": "UNKNOWN"}.get(ev.state, ev.state)
                label = "undo " if ev.phase == "undo" else ""
                print(f"[{ev.host}] {label}{ev.name}: {mark}" + (f" — {ev.detail}" if ev.detail else ""),
                      flush=True)
        elif isinstance(ev, Output) and ev.stream == "info":
            print(f"[{ev.host}] {ev.line}", flush=True)
        elif isinstance(ev, RunFinished):
            print(f"{ev.state}: {ev.message}", flush=True)
            for host, cmd in ev.manual:
                print(f"  on {host}: {cmd}", flush=True)


@command("migrate", "quick-migrate a site to another platform", _migrate_args)
def migrate_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    strict = cfg.strict if args.strict is None else args.strict

    async def go() -> int:
        runner = Runner(cfg)
        try:
            prep = await runner.prepare(args.uri, args.platform, strict)
            if not args.yes:
                _confirm(prep)
            problems = await runner.check(prep)
            if problems:
                raise Refused(problems)
            print(f"run {prep.ctx.run_id}", flush=True)
            runner.subscribe(_Printer(args.json_events))
            return await runner.migrate(prep, preflighted=True)
        finally:
            await runner.close()

    try:
        return asyncio.run(go())
    except Refused as exc:
        print("qm-tui: preflight refused, nothing changed:", file=sys.stderr)
        for p in exc.problems:
            print(f"  - {p}", file=sys.stderr)
        return EXIT_USAGE


def _confirm(prep: Prepared) -> None:
    ctx = prep.ctx
    if not sys.stdin.isatty():
        raise UsageError("migrate needs --yes when stdin is not a terminal")
    print(f"Migrate {ctx.uri} from {ctx.source.title} to {ctx.target.title} on {', '.join(ctx.fronts)}.")
    answer = input(f"Type the site's URI ({ctx.uri}) to proceed: ").strip()
    if answer != ctx.uri:
        raise UsageError("confirmation did not match; nothing changed")
