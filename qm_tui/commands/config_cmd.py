"""``qm-tui check-config`` (validate the configuration, offline) and ``qm-tui info`` (connect and report
what the hostmaster is: schema generation, server version, master server, counts)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import __version__
from ..cli import EXIT_OK, command, config_from
from ..config import Config


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("check-config", "validate the configuration file and show the effective settings", _configure)
def check_config(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    info = {
        "config": str(cfg.path),
        "hostmaster": {"db": repr(cfg.hostmaster.db), "server": cfg.hostmaster.server},
        "aegir_root": str(cfg.aegir_root),
        "ssh": {"config_file": str(cfg.ssh.config_file) if cfg.ssh.config_file else None,
                "known_hosts": str(cfg.ssh.known_hosts), "user": cfg.ssh.user},
        "state_dir": str(cfg.state_dir),
        "migrate": {"db_socket": cfg.migrate.db_socket},
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{cfg.path}: ok")
        print(f"  hostmaster db  {cfg.hostmaster.db.user}@{cfg.hostmaster.db.where}/{cfg.hostmaster.db.name}")
        print(f"  master server  {cfg.hostmaster.server}")
        print(f"  aegir_root     {cfg.aegir_root}")
        print(f"  state_dir      {cfg.state_dir}")
        if cfg.migrate.db_socket:
            print(f"  site db socket {cfg.migrate.db_socket} (for a site's db_host 'localhost')")
    return EXIT_OK


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


async def _gather_info(cfg: Config) -> dict[str, Any]:
    from ..engine.hostmaster_db import HostmasterDB
    from ..engine.model import PlatformStatus, SiteStatus

    db_cfg = cfg.hostmaster.db
    async with HostmasterDB(db_cfg) as db:
        version, counts = await db.summary()
        servers = await db.servers()
        schema, schema_id = db.schema or "", db.schema_id
    master = next((s for s in servers.values() if s.title == cfg.hostmaster.server), None)

    def by_status(kind: str, labels: type[SiteStatus] | type[PlatformStatus]) -> dict[str, int]:
        got = counts.get(kind, {})
        out = {m.label: got.get(int(m), 0) for m in sorted(labels, key=int, reverse=True)}
        other = sum(n for st, n in got.items() if st not in {int(m) for m in labels})
        if other:
            out["other"] = other
        return out

    return {
        "qm_tui": __version__,
        "config": str(cfg.path),
        "hostmaster": {"where": db_cfg.where, "user": db_cfg.user, "database": db_cfg.name,
                       "server_version": version, "schema": schema_id, "schema_detail": schema},
        "master_server": {"name": cfg.hostmaster.server, "nid": master.nid if master else None,
                          "context": master.context if master else None},
        "counts": {
            "sites": by_status("sites", SiteStatus),
            "platforms": by_status("platforms", PlatformStatus),
            "servers": counts.get("servers", {}).get(None, 0),
            "packages": counts.get("packages", {}).get(None, 0),
            "package_instances": counts.get("package_instances", {}).get(None, 0),
        },
    }


@command("info", "connect to the hostmaster: schema (Aegir 3 or 2), server version, master server, counts",
         _info_args)
def info_cmd(args: argparse.Namespace) -> int:
    from ..engine.service import run_sync

    cfg = config_from(args)
    info = run_sync(_gather_info(cfg))
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    hm, ms, c = info["hostmaster"], info["master_server"], info["counts"]

    def parts(d: dict[str, int]) -> str:
        return ", ".join(f"{n} {label}" for label, n in d.items() if n) or "none"

    print(f"qm-tui {info['qm_tui']}  ({info['config']})")
    print(f"  hostmaster db  {hm['user']}@{hm['where']}/{hm['database']}  (server {hm['server_version']})")
    print(f"  schema         {hm['schema_detail']}")
    if ms["nid"] is not None:
        print(f"  master server  {ms['name']} (node {ms['nid']}, @{ms['context']})")
    else:
        print(f"  master server  {ms['name']}: NOT FOUND among the hostmaster's server nodes")
    print(f"  sites          {parts(c['sites'])}")
    print(f"  platforms      {parts(c['platforms'])}")
    print(f"  servers        {c['servers']}")
    print(f"  packages       {c['packages']} ({c['package_instances']} instances)")
    return EXIT_OK
