"""``qm-tui config check``: load and validate the configuration, print where it came from."""

from __future__ import annotations

import argparse
import json

from ..cli import EXIT_OK, command, config_from


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
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{cfg.path}: ok")
        print(f"  hostmaster db  {cfg.hostmaster.db.user}@{cfg.hostmaster.db.where}/{cfg.hostmaster.db.name}")
        print(f"  master server  {cfg.hostmaster.server}")
        print(f"  aegir_root     {cfg.aegir_root}")
        print(f"  state_dir      {cfg.state_dir}")
    return EXIT_OK
