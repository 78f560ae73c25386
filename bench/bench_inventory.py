"""Inventory and targets benchmark on a large synthetic hostmaster (see bench/README.md).

Builds the scale world (default 10,000 sites, 200 platforms, 150 modules per site: ~1.6M package
instance rows), loads it into a fresh MariaDB database with the sandbox's bulk loader, then in one
run measures:

* ``qm-tui sites --json`` wall time (a subprocess, interpreter start included) and the in-process
  ``service.load`` time;
* ``service.targets`` for one site against every platform (in-process, median of N) and the
  ``qm-tui targets URI --json`` wall time.

The database and its accounts are dropped at the end, also on failure or Ctrl-C.

    .venv/bin/python bench/bench_inventory.py [--sites N] [--platforms N] [--modules N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qm_lab.hostmaster_db import AdminParams, create_hostmaster, drop_hostmaster  # noqa: E402
from qm_lab.scenario import build_scale_world, scale_instance_count  # noqa: E402
from qm_tui.config import Config, load_config  # noqa: E402
from qm_tui.engine import service  # noqa: E402

GOAL_SITES_S = 1.5
GOAL_TARGETS_S = 0.300


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "os": platform.platform(),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def write_config(path: Path, creds: Any) -> Path:
    data = {"hostmaster": {"db": {"host": creds.host, "port": creds.port, "user": creds.user,
                                  "password": creds.password, "name": creds.name, "read_timeout": 120},
                           "server": "aegir.lab.test"},
            "aegir_root": "/var/aegir", "ssh": {"known_hosts": str(path.parent / "known_hosts")},
            "state_dir": str(path.parent / "state")}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh)
    return path


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cli(conf: Path, *args: str) -> tuple[float, float, str]:
    """Wall and CPU time of one CLI run (interpreter start included) and its stdout."""
    c0, t0 = _child_cpu(), time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "qm_tui", *args, "--config", str(conf)], capture_output=True,
                       text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    if r.returncode != 0:
        raise SystemExit(f"qm-tui {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return wall, cpu, r.stdout


def timed(n: int, fn: Callable[[], Any]) -> tuple[list[float], list[float], Any]:
    """Wall and CPU (this process) times of ``n`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(n):
        result = None
        gc.collect()  # each call starts from a collected heap, not with the previous result to free
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, result


def run(cfg: Config, conf: Path, uri: str, repeat: int, n_sites: int, n_platforms: int,
        memo: bool) -> dict[str, Any]:
    """Every measurement: name -> {"wall": [...], "cpu": [...]} (seconds), plus a few facts."""
    out: dict[str, Any] = {}

    def cli_runs(name: str, *args: str) -> str:
        stdout = ""
        out[name] = {"wall": [], "cpu": []}
        for _ in range(repeat):
            wall, cpu, stdout = cli(conf, *args)
            out[name]["wall"].append(wall)
            out[name]["cpu"].append(cpu)
        return stdout

    # CLI first, before this process has warmed anything up (the server's caches are warm from the
    # load, as on a live hostmaster).
    sites = json.loads(cli_runs("sites_cli", "sites", "--json"))
    assert len(sites) == n_sites, f"sites --json listed {len(sites)} sites, expected {n_sites}"
    del sites
    wall, cpu, snap = timed(repeat, lambda: service.run_sync(service.load(cfg)))
    assert len(snap.inventory.sites) == n_sites
    out["sites_load"] = {"wall": wall, "cpu": cpu}
    del snap
    wall, cpu, st = timed(repeat, lambda: service.run_sync(service.targets(cfg, uri)))
    assert len(st.verdicts) == n_platforms - 1, len(st.verdicts)
    out["targets"] = {"wall": wall, "cpu": cpu}
    out["facts"] = {"compared": sum(1 for v in st.verdicts if v.comparison is not None),
                    "selectable": sum(1 for v in st.verdicts if v.selectable),
                    "site_packages": len(st.site_packages)}
    del st
    # The TUI keeps one event loop for its lifetime; the CLI above makes one per command.
    loop = asyncio.new_event_loop()
    try:
        wall, cpu, _ = timed(repeat, lambda: loop.run_until_complete(service.targets(cfg, uri)))
    finally:
        loop.close()
    out["targets_one_loop"] = {"wall": wall, "cpu": cpu}
    assert len(json.loads(cli_runs("targets_cli", "targets", uri, "--json"))) == n_platforms - 1
    c0, t0 = _child_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", "import qm_tui.cli as c; c._load_commands()"], check=True, cwd=ROOT)
    out["cli_start"] = {"wall": [time.perf_counter() - t0], "cpu": [_child_cpu() - c0]}
    if memo:
        # Experiment, not the shipped code: targets with versions.parse_version memoised.
        from qm_tui.engine import versions

        orig = versions.parse_version
        versions.parse_version = functools.lru_cache(maxsize=16384)(orig)
        try:
            wall, cpu, _ = timed(repeat, lambda: service.run_sync(service.targets(cfg, uri)))
            out["targets_memo"] = {"wall": wall, "cpu": cpu}
        finally:
            versions.parse_version = orig
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--platforms", type=int, default=200)
    ap.add_argument("--modules", type=int, default=150, help="modules (and themes) per site")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (the median is reported)")
    ap.add_argument("--site", default="site00042.scale.test", help="the site for targets")
    ap.add_argument("--host", default=os.environ.get("QM_TEST_MYSQL_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("QM_TEST_MYSQL_PORT", "3306")))
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--memoize-versions", action="store_true",
                    help="also time targets in-process with versions.parse_version memoised (an experiment)")
    args = ap.parse_args()

    found = AdminParams.discover()  # the lab admin of scripts/install-system.sh, else root
    admin = AdminParams(host=args.host, port=args.port, user=found.user, password=found.password)
    t0 = time.perf_counter()
    world = build_scale_world(args.sites, args.platforms, args.modules)
    build_s = time.perf_counter() - t0
    rows = len(world.instances)
    assert rows == scale_instance_count(args.sites, args.platforms, args.modules)
    prefix = f"qmt{secrets.token_hex(4)}_"
    database = f"{prefix}hostmaster"
    print(f"world: {args.sites} sites, {args.platforms} platforms, {rows:,} package instances "
          f"(built in {build_s:.1f} s); loading into {database} ...", file=sys.stderr)
    try:
        t0 = time.perf_counter()
        acc = create_hostmaster(admin, database, world, account_prefix=prefix)
        create_s = time.perf_counter() - t0
        # 1.6M model objects would make every GC pass of the measured code crawl: drop them first.
        del world
        gc.collect()
        conn = admin.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                server_version = cur.fetchone()[0]
        finally:
            conn.close()
        with tempfile.TemporaryDirectory(prefix="qm-bench-") as tmp:
            conf = write_config(Path(tmp) / "config.yaml", acc.ro)
            cfg = load_config(conf)
            res = run(cfg, conf, args.site, args.repeat, args.sites, args.platforms, args.memoize_versions)
    finally:
        drop_hostmaster(admin, database, prefix)

    facts = res.pop("facts")
    med = {k: round(statistics.median(v["wall"]), 3) for k, v in res.items()}
    med_cpu = {k: round(statistics.median(v["cpu"]), 3) for k, v in res.items()}
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "mariadb": server_version},
        "world": {"sites": args.sites, "platforms": args.platforms, "modules_per_site": args.modules,
                  "package_instances": rows, "build_s": round(build_s, 2), "load_s": round(acc.load_seconds, 2),
                  "create_total_s": round(create_s, 2)},
        "repeat": args.repeat,
        "median_wall_s": med,
        "median_cpu_s": med_cpu,
        "runs_wall_s": {k: [round(x, 3) for x in v["wall"]] for k, v in res.items()},
        "targets": {"site": args.site, "platforms": args.platforms - 1, **facts},
        "goals": {"sites_cli_s": GOAL_SITES_S, "targets_s": GOAL_TARGETS_S,
                  "sites_ratio": round(med["sites_cli"] / GOAL_SITES_S, 2),
                  "targets_ratio": round(med["targets"] / GOAL_TARGETS_S, 2)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        w, mc = report["world"], med_cpu
        ok = {True: "met", False: "MISSED"}
        print(f"{report['date']}  {report['machine']['cpu']} ({report['machine']['cores']} cores), "
              f"{report['machine']['mariadb']}, Python {report['machine']['python']}, "
              f"load average {report['machine']['loadavg_1m']}")
        print(f"world   {w['sites']} sites, {w['platforms']} platforms, {w['package_instances']:,} instances: "
              f"built {w['build_s']} s, loaded {w['load_s']} s ({w['create_total_s']} s with schema and accounts)")
        print(f"sites   CLI --json {med['sites_cli']:.3f} s wall / {mc['sites_cli']:.3f} s CPU "
              f"(goal {GOAL_SITES_S} s: {ok[med['sites_cli'] <= GOAL_SITES_S]}, {report['goals']['sites_ratio']}x); "
              f"in-process load {med['sites_load']:.3f} s; CLI start {med['cli_start']:.3f} s")
        print(f"targets in-process {med['targets'] * 1000:.0f} ms wall / {mc['targets'] * 1000:.0f} ms CPU for "
              f"{report['targets']['platforms']} platforms (goal {GOAL_TARGETS_S * 1000:.0f} ms: "
              f"{ok[med['targets'] <= GOAL_TARGETS_S]}, {report['goals']['targets_ratio']}x); "
              f"CLI --json {med['targets_cli']:.3f} s")
        print(f"targets in-process on one long-lived event loop (as the TUI): {med['targets_one_loop'] * 1000:.0f} ms "
              f"wall / {mc['targets_one_loop'] * 1000:.0f} ms CPU")
        if "targets_memo" in med:
            print(f"targets in-process with parse_version memoised (experiment): {med['targets_memo'] * 1000:.0f} ms "
                  f"wall / {mc['targets_memo'] * 1000:.0f} ms CPU")
        print(f"medians of {args.repeat}; every run (wall): {json.dumps(report['runs_wall_s'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
