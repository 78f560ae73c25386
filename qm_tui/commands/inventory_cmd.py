"""``qm-tui sites`` and ``qm-tui platforms``: the hostmaster inventory, as tables or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..cli import EXIT_OK, command, config_from
from ..engine import service
from ..engine.model import Platform, Site, SiteStatus
from .output import fmt_time, print_table

_STATUS_CHOICES = ("enabled", "disabled", "deleted", "queued", "all")


def emit_json_rows(rows: Sequence[Any]) -> None:
    """A JSON array with one element per line.

    ``json.dump(..., indent=2)`` runs the pure-Python encoder: 0.5 s for 10,000 sites. Encoding each
    element compactly uses the C encoder and keeps the output greppable, one site per line.
    """
    out = sys.stdout
    out.write("[")
    sep = "\n  "
    for row in rows:
        out.write(sep)
        out.write(json.dumps(row, ensure_ascii=False))
        sep = ",\n  "
    out.write("\n]\n" if rows else "]\n")


def site_json(s: Site) -> dict[str, Any]:
    return {"uri": s.uri, "nid": s.nid, "status": s.status.label, "platform": s.platform,
            "platform_nid": s.platform_nid, "web_server": s.web_server, "fronts": list(s.fronts),
            "profile": s.profile, "client": s.client, "db_server": s.db_server,
            "verified": fmt_time(s.verified)}


def platform_json(p: Platform) -> dict[str, Any]:
    return {"name": p.title, "nid": p.nid, "status": p.status.label,
            "core_version": p.core_version, "web_server": p.web_server_title, "fronts": list(p.fronts),
            "site_count": p.site_count, "publish_path": p.publish_path}


def _sites_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--platform", metavar="P", help="only sites on this platform (title, context or nid)")
    p.add_argument("--status", choices=_STATUS_CHOICES, default=None,
                   help="only sites in this state (default: all but deleted)")
    p.add_argument("--filter", metavar="TEXT", help="substring of URI, platform, profile or client")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def filter_sites(sites: list[Site], status: str | None, text: str | None,
                 platform_nid: int | None) -> list[Site]:
    out = []
    needle = (text or "").lower()
    for s in sites:
        if status is None and s.status == SiteStatus.DELETED:
            continue
        if status not in (None, "all") and s.status.label != status:
            continue
        if platform_nid is not None and s.platform_nid != platform_nid:
            continue
        if needle and not any(needle in (v or "").lower() for v in (s.uri, s.platform, s.profile, s.client)):
            continue
        out.append(s)
    return out


@command("sites", "list sites from the hostmaster", _sites_args)
def sites_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    include_deleted = args.status in ("deleted", "all")
    snap = service.run_sync(service.load(cfg, include_deleted=include_deleted))
    plat = service.find_platform(snap.inventory, args.platform).nid if args.platform is not None else None
    sites = filter_sites(snap.inventory.sites, args.status, args.filter, plat)
    if args.json:
        emit_json_rows([site_json(s) for s in sites])
        return EXIT_OK
    print_table(
        f"{len(sites)} sites",
        ["URI", "status", "platform", "fronts", "profile", "client", "verified"],
        [[s.uri, s.status.label, s.platform, ", ".join(s.fronts), s.profile or "", s.client or "",
          fmt_time(s.verified) or "never"] for s in sites],
    )
    return EXIT_OK


def _platforms_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="include deleted platforms")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("platforms", "list platforms from the hostmaster", _platforms_args)
def platforms_cmd(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    snap = service.run_sync(service.load(cfg))
    plats = [p for p in snap.inventory.platforms if args.all or p.status.label != "deleted"]
    if args.json:
        emit_json_rows([platform_json(p) for p in plats])
        return EXIT_OK
    print_table(
        f"{len(plats)} platforms",
        ["platform", "status", "core", "web server", "fronts", "sites", "path"],
        [[p.title, p.status.label, p.core_version or "?", p.web_server_title, ", ".join(p.fronts),
          str(p.site_count), p.publish_path] for p in plats],
    )
    return EXIT_OK
