"""Plan and preflight an operation without changing anything (``qm-tui plan``, the TUI's confirms)."""

from __future__ import annotations

from typing import Any

from ..config import Config
from .operations import Prepared


async def prepare_and_check(cfg: Config, uri: str, arg: str, strict: bool, kind: str = "migrate"
                            ) -> tuple[Prepared, list[str]]:
    """The plan and its preflight, as ``qm-tui plan`` does; changes nothing on any host."""
    from .runner import Runner  # the SSH stack is only needed once an operation is asked for

    runner = Runner(cfg)
    try:
        prep = await runner.prepare_op(kind, uri, arg, strict)
        return prep, await runner.check(prep)
    finally:
        await runner.close()


def plan_json(prep: Prepared, problems: list[str]) -> dict[str, Any]:
    """Every command a run will execute, in order, guards and checks included (``qm-tui plan --json``)."""
    ctx, summary = prep.ctx, prep.summary
    return {
        "operation": prep.op.kind, "site": ctx.uri, "source_platform": ctx.source.title,
        "target_platform": ctx.target.title, "new_uri": ctx.dst_uri, "summary": summary.as_json(),
        "hostmaster": ctx.master, "fronts": list(ctx.fronts), "web_server_type": ctx.web_type,
        "ok": not problems, "problems": problems,
        "steps": [{"name": s.name, "host": s.host, "title": s.title, "parallel_group": s.group,
                   "bookkeeping": s.bookkeeping, "commands": [c.as_json() for c in s.commands(ctx)],
                   "undo": [{"host": h, "display": c} for h, c in s.undo_commands(ctx)]} for s in prep.steps],
    }


def plan_lines(prep: Prepared, problems: list[str]) -> list[str]:
    """The plan for people: each step, then each command as it will be logged (host when not the step's)."""
    ctx, s = prep.ctx, prep.summary
    head = (f"{s.kind} {s.subject}: {s.source} → {s.target}  (hostmaster {ctx.master}; "
            f"fronts {', '.join(ctx.fronts)})")
    out = [head]
    for i, step in enumerate(prep.steps, 1):
        out.append(f"{i:2}. [{step.host}] {step.title}" + ("  (in parallel)" if step.group else ""))
        for c in step.commands(ctx):
            where = f"[{c.host}] " if c.host != step.host else ""
            role = "" if c.role == "do" else f"({c.role}) "
            out.append(f"      $ {where}{role}{c.shown}" + (f"  < {c.stdin}" if c.stdin else ""))
    out.append("preflight: ok" if not problems else "preflight refused:\n  - " + "\n  - ".join(problems))
    return out
