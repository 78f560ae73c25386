#!/usr/bin/env python3
"""Batch migrate throughput on the lab, in one run (figures: docs/benchmarks.md).

    .venv/bin/python bench/bench_batch.py [--per-level 36] [--lone 6] [--levels 1,2,4] [--no-write]
                                          [--json FILE] [--workdir DIR]

What it does (needs root, MariaDB and namespaces, like the integration tests; see docs/lab.md):

1. Builds a lab whose world is the seed scenario plus ``--per-level`` × levels + ``--lone`` + 1 identical
   bench sites on the cluster platform drupal-7.97-a (web1-3; D7, profile minimal, same modules, the
   10 files every lab site has): 115 sites with the defaults, 142 in the lab in all.
2. Sets ``migrate.post_check: true`` in the lab's config, so a lone migrate does the per-site work a
   batch does by default (``drush @site core-status`` from the new place).
3. Migrates one site alone, not counted (warms drush, MariaDB, ssh, the page cache); then half of the
   ``--lone`` sites one after the other with ``qm-tui migrate URI drupal-7.98-b --yes``; then, for each
   level N, a batch of its own ``--per-level`` sites with ``qm-tui batch drupal-7.97-a drupal-7.98-b --sites
   ... --concurrency N --canary 0 --yes`` (canary 0: the level is the concurrency from the first site);
   then the other half of the lone migrates. Every figure is the wall clock of the subprocess.
4. Checks every site migrated whole: verdict migrated, and on every front its ``files`` directory is the
   same inode at its new place (renamed, never copied).
5. Writes its section of docs/benchmarks.md (between the bench_batch markers) unless ``--no-write``.
6. Closes the lab and removes every file it made.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_migrate import (  # noqa: E402
    extended_world,
    log,
    machine,
    med,
    other_lab_hosts,
    qm_tui_argv,
    write_section,
)

from qm_lab import scenario  # noqa: E402
from qm_lab.lab import Lab, build_lab  # noqa: E402
from qm_lab.world import World  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench_batch:start -->", "<!-- bench_batch:end -->"
SRC, DST = "drupal-7.97-a", "drupal-7.98-b"  # the cluster, web1-3
GOAL_SPEEDUP, GOAL_OVERHEAD = 1.6, 0.10


def uri(n: int) -> str:
    return f"bench-batch-{n:03d}.lab.test"


def add_sites(w: World, count: int) -> None:
    b = scenario._Builder(w)
    client = next(c for c in w.clients if c.uname == "exampleorg")
    for n in range(count):
        b.site(uri(n), w.platform(SRC), "minimal", client, set(scenario.D7_MINIMAL | scenario.D7_CLEAN))
    if w.rid_collisions():
        raise RuntimeError(f"bench sites collide with profile iids: {sorted(w.rid_collisions())}")


@dataclass
class Timed:
    what: str
    sites: list[str]
    wall: float
    load: float  # 1-minute load average at the start
    other_labs: int
    ident: str = ""  # run or batch id
    per_site: list[float] = field(default_factory=list)  # each site's own run, seconds (journal)
    serial: list[float] = field(default_factory=list)  # of which in provision-verify (SERIAL)


def qm(lab: Lab, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*qm_tui_argv(), "--config", str(lab.config_path), *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


def timed(lab: Lab, what: str, sites: list[str], *args: str) -> tuple[Timed, subprocess.CompletedProcess[str]]:
    load, others = os.getloadavg()[0], other_lab_hosts(lab)
    t0 = time.time()
    proc = qm(lab, *args)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"qm-tui {' '.join(args[:2])} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    ident = (proc.stdout.splitlines() or [""])[0].split()[-1]
    return Timed(what, sites, wall, load, others, ident), proc


def run_seconds(lab: Lab, run_ids: Sequence[str]) -> list[float]:
    with contextlib.closing(sqlite3.connect(lab.state_dir / "journal.sqlite")) as db:
        out = []
        for rid in run_ids:
            started, ended, state = db.execute("SELECT started_at, ended_at, state FROM runs WHERE id = ?",
                                               (rid,)).fetchone()
            if state != "succeeded":
                raise RuntimeError(f"run {rid}: {state}")
            out.append(ended - started)
        return out


SERIAL = ("verify", "aegir_verify_task")  # provision-verify: one site at a time per platform (sites.php)


def serial_seconds(lab: Lab, run_ids: Sequence[str]) -> list[float]:
    """Each run's time in the steps that hold its target platform's sites.php lock."""
    marks = ",".join("?" * len(SERIAL))
    with contextlib.closing(sqlite3.connect(lab.state_dir / "journal.sqlite")) as db:
        return [db.execute(f"SELECT COALESCE(SUM(ended_at - started_at), 0) FROM steps WHERE run_id = ? "  # noqa: S608
                           f"AND name IN ({marks}) AND ended_at IS NOT NULL", (rid, *SERIAL)).fetchone()[0]
                for rid in run_ids]


def lone(lab: Lab, site: str) -> Timed:
    t, _ = timed(lab, "lone", [site], "migrate", site, DST, "--yes")
    t.per_site, t.serial = run_seconds(lab, [t.ident]), serial_seconds(lab, [t.ident])
    return t


def batch(lab: Lab, level: int, sites: list[str]) -> Timed:
    t, _ = timed(lab, f"c{level}", sites, "batch", SRC, DST, "--sites", *sites, "--concurrency", str(level),
                 "--canary", "0", "--yes")
    rec = json.loads(qm(lab, "batch", "show", t.ident, "--json").stdout)
    verdicts = {s["site"]: s["verdict"] for s in rec["sites"]}
    if set(verdicts.values()) != {"migrated"} or sorted(verdicts) != sorted(sites):
        raise RuntimeError(f"batch {t.ident}: not every site migrated: {verdicts}")
    runs = [s["run_id"] for s in rec["sites"]]
    t.per_site, t.serial = run_seconds(lab, runs), serial_seconds(lab, runs)
    return t


def files_inodes(lab: Lab, sites: Sequence[str], platform: str) -> dict[tuple[str, str], int]:
    fronts = lab.world.fronts(lab.world.platform(SRC).web_server)
    return {(h, s): (lab.site_dir(h, s, platform) / "files").stat().st_ino for h in fronts for s in sites}


# --- the report -------------------------------------------------------------------------------------

def rate(t: Timed) -> float:
    return len(t.sites) / t.wall * 60


def render(info: dict[str, str], date: str, args: argparse.Namespace, lones: list[Timed], levels: list[Timed],
           build_s: float, total_sites: int) -> str:
    lone_med = med([t.wall for t in lones])
    lone_engine = med([t.per_site[0] for t in lones])
    by = {t.what: t for t in levels}
    c1 = by.get("c1")
    lines = [
        START,
        "## Batch migrate: sites per minute by concurrency (`bench/bench_batch.py`)",
        "",
        f"Measured {date} by `bench/bench_batch.py --per-level {args.per_level} --lone {args.lone} "
        f"--levels {args.levels}` on the lab (docs/lab.md): 5 sshd hosts on one machine, ssh over loopback.",
        "",
        f"- machine: {info['cpu']}; RAM {info['ram']}; disk {info['disk']}",
        f"- {info['os']}",
        f"- qm-tui: {info['code']}",
        f"- the lab: {total_sites} sites ({args.per_level} × {len(levels)} + {args.lone} + 1 bench sites on "
        f"the cluster platform {SRC}: web1-3 and the hostmaster M; D7, profile minimal, the 10 files every "
        f"lab site has), built in {build_s:.0f} s",
        "- every run with the post-check (`drush @site core-status` from the new place; a batch's default, "
        "`migrate.post_check: true` for the lone ones); no HTTP check; canary 0; each site checked "
        "afterwards: verdict migrated, its `files` the same inode at its new place on every front",
        "",
        "| run | sites | wall (s) | sites / min | per site: own run, median (s) | load at start |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in lones:
        lines.append(f"| lone `qm-tui migrate` {t.sites[0]} | 1 | {t.wall:.2f} | {rate(t):.2f} | "
                     f"{t.per_site[0]:.2f} | {t.load:.1f} |")
    for t in levels:
        lines.append(f"| batch, concurrency {t.what[1:]} | {len(t.sites)} | {t.wall:.1f} | {rate(t):.2f} | "
                     f"{med(t.per_site):.2f} | {t.load:.1f} |")
    lines += ["", "| figure | value | goal | verdict |", "|---|---:|---|---|"]
    if c1 is not None:
        for t in levels:
            if t.what != "c1":
                ratio = rate(t) / rate(c1)
                goal = f">= {GOAL_SPEEDUP}×" if t.what == "c4" else ""
                verdict = ("met" if ratio >= GOAL_SPEEDUP else "**missed**") if t.what == "c4" else ""
                lines.append(f"| throughput, concurrency {t.what[1:]} / 1 | {ratio:.2f}× | {goal} | {verdict} |")
        per = c1.wall / len(c1.sites)
        over = (per - lone_med) / lone_med
        lines.append(f"| batch overhead per site at concurrency 1: (batch wall / sites − lone median) / lone "
                     f"median | {over * 100:+.1f} % ({per:.2f} s vs {lone_med:.2f} s) | <= {GOAL_OVERHEAD:.0%} | "
                     f"{'met' if over <= GOAL_OVERHEAD else '**missed**'} |")
        eng = (med(c1.per_site) - lone_engine) / lone_engine
        lines.append(f"| (a site's own run inside the batch vs alone, medians) | {eng * 100:+.1f} % "
                     f"({med(c1.per_site):.2f} s vs {lone_engine:.2f} s) | | |")
        share = sum(c1.serial) / sum(c1.per_site)
        lines.append(f"| share of a run in provision-verify (`verify` + `aegir_verify_task`, concurrency 1), "
                     f"one site at a time per target platform | {share * 100:.0f} % | | |")
        lines.append(f"| so the most any concurrency can give on one target platform (Amdahl: run / serial "
                     f"part) | {1 / share:.2f}× | | |")
    lines += [
        "",
        "Why concurrency gives so little here: provision-verify rewrites the target platform's "
        "`sites/sites.php`, and provision's data store (`Provision_Config_Data_Store`) reads its records "
        "without a lock and opens the file with `fopen(…, \"w+\")`, which truncates it before its `flock`: "
        "two verifies of sites on one platform side by side can drop each other's alias records, or every "
        "record when one reads the file the other has just truncated. qm-tui therefore runs its `verify` "
        "step and Aegir's verify task (`migrate.aegir_verify_task`) one at a time per target platform "
        "(`sites_php_lock`), and in the lab those two are most of a run: each pushes the platform, the "
        "site dir, the vhost and `sites.php` to each of the three fronts with rsync over ssh, one after "
        "the other, as provision does. Everything else of a run (maintenance, dump, the renames, "
        "updatedb, cache clear, the code push, hosting-import, the post-check) runs side by side. On real "
        "sites the parallel part is larger (a database dump and updatedb take minutes on a big site, "
        "the lab's take a fraction of a second), and sites bound for different target platforms never "
        "wait for each other.",
        "",
        "A lone migrate's wall clock includes the CLI's start, the hostmaster reads and the preflight; in a "
        "batch the selection is read once and the runner starts once, while each site still gets its own "
        "preflight, run, journal record and lock. The per-site column is the site's own run from the "
        "journal (steps only), which concurrency stretches: the hosts' CPUs are shared by every run, sshd "
        "and the drush stand-in (Python) on the same two cores.",
        "",
        "### Re-run",
        "",
        "```sh",
        ".venv/bin/python bench/bench_batch.py                       # 3 × 36 sites + 6 lone (~25 min)",
        ".venv/bin/python bench/bench_batch.py --per-level 4 --lone 2 --no-write   # smoke test (~4 min)",
        "```",
        "",
        "Needs root, user namespaces and MariaDB on 127.0.0.1:3306 (like the integration tests). Everything "
        "it creates is removed at the end.",
        END,
    ]
    return "\n".join(lines) + "\n"


# --- main ---------------------------------------------------------------------------------------

def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--per-level", type=int, default=36, help="sites in each concurrency level's batch (36)")
    p.add_argument("--lone", type=int, default=6, help="lone migrates, half before and half after (6)")
    p.add_argument("--levels", default="1,2,4", help="concurrency levels, comma-separated (1,2,4)")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the lab dir (default: system temp)")
    p.add_argument("--no-write", action="store_true", help="print the Markdown, do not touch docs/")
    p.add_argument("--json", type=Path, default=None, help="also write raw results as JSON here")
    a = p.parse_args(argv)
    try:
        a.level_list = [int(x) for x in a.levels.split(",")]
    except ValueError:
        p.error("--levels: expected numbers separated by commas, like 1,2,4")
    if a.per_level < 1 or a.lone < 2 or any(n < 1 for n in a.level_list):
        p.error("--per-level and every level must be at least 1, --lone at least 2")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (the lab needs namespaces and the aegir user)")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    count = a.per_level * len(a.level_list) + a.lone + 1
    base = Path(tempfile.mkdtemp(prefix="qm-bench-batch-", dir=a.workdir))
    lab: Lab | None = None
    try:
        t = time.monotonic()
        with extended_world(lambda w: add_sites(w, count)):
            lab = build_lab(base / "lab")
        build_s = time.monotonic() - t
        log(f"lab built in {build_s:.1f} s ({len(lab.world.sites)} sites): {lab.config_path}")
        info = machine(base)
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lones, levels = bench(lab, a, count)
        section = render(info, date, a, lones, levels, build_s, len(lab.world.sites))
    finally:
        if lab is not None:
            lab.close()
        import shutil

        shutil.rmtree(base, ignore_errors=True)
        log("lab closed, work dir removed")
    print(section)
    if a.json:
        a.json.write_text(json.dumps({"date": date, "machine": info, "runs": [t.__dict__ for t in lones + levels]},
                                     indent=2))
    if not a.no_write:
        write_section(DOC, section, "# Benchmarks\n", START, END)
        log(f"wrote {DOC.relative_to(REPO)}")
    return 0


def bench(lab: Lab, a: argparse.Namespace, count: int) -> tuple[list[Timed], list[Timed]]:
    cfg = yaml.safe_load(lab.config_path.read_text())
    cfg.setdefault("migrate", {})["post_check"] = True
    lab.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    sites = [uri(n) for n in range(count)]
    before = files_inodes(lab, sites, SRC)
    warm, sites = sites[0], sites[1:]
    log(f"warm-up: {warm}")
    lone(lab, warm)
    lone_sites, sites = sites[:a.lone], sites[a.lone:]
    lones, levels = [], []
    for s in lone_sites[:a.lone // 2]:
        lones.append(lone(lab, s))
        log(f"lone {s}: {lones[-1].wall:.2f} s")
    for n, level in enumerate(a.level_list):
        group = sites[n * a.per_level:(n + 1) * a.per_level]
        levels.append(batch(lab, level, group))
        log(f"batch c{level}: {len(group)} sites in {levels[-1].wall:.1f} s ({rate(levels[-1]):.2f} / min)")
    for s in lone_sites[a.lone // 2:]:
        lones.append(lone(lab, s))
        log(f"lone {s}: {lones[-1].wall:.2f} s")
    moved = [warm, *lone_sites, *sites[:len(a.level_list) * a.per_level]]
    after = files_inodes(lab, moved, DST)
    changed = [k for k in after if after[k] != before[k]]
    if changed:
        raise RuntimeError(f"files not renamed in place (inode changed): {changed[:5]}")
    return lones, levels


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
