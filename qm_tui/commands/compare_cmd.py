"""``qm-tui targets`` and ``qm-tui compare``: where can a site go, and what changes if it does."""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import EXIT_OK, command, config_from
from ..engine import service
from ..engine.compare import VERDICTS, ComparedPackage
from ..engine.eligibility import TargetVerdict
from .inventory_cmd import emit_json_rows
from .output import emit_json, print_table


def counts_json(v: TargetVerdict) -> dict[str, int]:
    return {k: int(n) for k, n in v.counts.items()}


def target_json(v: TargetVerdict) -> dict[str, Any]:
    return {"platform": v.platform.title, "platform_nid": v.platform.nid, "selectable": v.selectable,
            "reasons": list(v.reasons), "counts": counts_json(v)}


def package_json(r: ComparedPackage) -> dict[str, Any]:
    return {"name": r.short_name, "type": r.package_type, "status": "enabled" if r.enabled else "disabled",
            "current_version": r.current_version, "target_version": r.target_version,
            "current_schema": r.current_schema, "target_schema": r.target_schema, "verdict": r.verdict}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="the site")
    p.add_argument("--strict", action="store_true", default=None,
                   help="missing modules block the migration too (default: config 'strict')")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _strict(args: argparse.Namespace) -> bool:
    return bool(args.strict) if args.strict is not None else config_from(args).strict


def _counts_text(v: TargetVerdict) -> str:
    c = v.counts
    return f"{c['error']} err, {c['missing']} miss, {c['upgrade']} up, {c['downgrade']} down"


@command("targets", "list every other platform as a migration target for a site", _common)
def targets_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    st = service.run_sync(service.targets(cfg, args.uri, strict=_strict(args)))
    if args.json:
        emit_json_rows([target_json(v) for v in st.verdicts])
        return EXIT_OK
    rows = sorted(st.verdicts, key=lambda v: (not v.selectable, v.platform.title))
    print_table(
        f"{st.site.uri} on {st.source.title} (Drupal {st.source.core_version or '?'}, "
        f"{st.source.web_server_title})",
        ["platform", "core", "selectable", "counts", "why not"],
        [[v.platform.title, v.platform.core_version or "?", "yes" if v.selectable else "no",
          _counts_text(v), "; ".join(v.reasons)] for v in rows],
    )
    return EXIT_OK


def _compare_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("platform", metavar="PLATFORM", help="target platform: title, context or nid")
    p.add_argument("--all", action="store_true", help="show packages that are the same too")


def _schema(n: int | None) -> str:
    return "-" if n is None else str(n)


_STYLE = {"error": "bold red", "missing": "yellow", "downgrade": "yellow", "upgrade": "blue",
          "absent-disabled": "dim", "same": "dim"}


@command("compare", "compare a site's modules and themes with a target platform", _compare_args)
def compare_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    st, verdict, comparison = service.run_sync(service.compare(cfg, args.uri, args.platform, strict=_strict(args)))
    rows = list(comparison.rows) if comparison else []
    if args.json:
        emit_json({"site": st.site.uri, "source_platform": st.source.title,
                   "target_platform": verdict.platform.title, "selectable": verdict.selectable,
                   "reasons": list(verdict.reasons), "counts": counts_json(verdict),
                   "packages": [package_json(r) for r in rows]})
        return EXIT_OK
    shown = rows if args.all else [r for r in rows if r.verdict != "same"]
    print_table(
        f"{st.site.uri}: {st.source.title} → {verdict.platform.title}  "
        + "  ".join(f"{k}: {verdict.counts[k]}" for k in VERDICTS),
        ["package", "type", "enabled", "current", "target", "schema", "verdict"],
        [[r.short_name, r.package_type, "yes" if r.enabled else "no", r.current_version or "-",
          r.target_version or "-", f"{r.current_schema} → {_schema(r.target_schema)}",
          f"[{_STYLE[r.verdict]}]{r.verdict}[/]"] for r in shown],
    )
    if verdict.selectable:
        print("selectable: yes")
    else:
        print("selectable: no — " + "; ".join(verdict.reasons))
    return EXIT_OK
