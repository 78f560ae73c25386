#!/usr/bin/env python3
"""Quick migrate vs Aegir's classic migrate, on the lab, in one run (figures: docs/benchmarks.md).

    .venv/bin/python bench/bench_migrate.py [--size-mb 1024] [--files 4000] [--repeat 5] [--no-mux]
                                            [--no-write] [--json FILE] [--workdir DIR]

What it does (needs root, MariaDB and namespaces, like the integration tests; see docs/lab.md):

1. Builds a lab whose scenario is the seed scenario plus identical bench sites (profile minimal,
   same modules), ``--repeat`` of each kind (twice that with the ssh-sharing series):
   * ``bench-cbig-N``   on drupal-7.97-a (the 3-front cluster, web1-3) -> drupal-7.98-b, with
     ``--size-mb`` of real random bytes in ``--files`` files added to its live ``files/`` on every front
     (one independent copy per front; further replicates hard-link the first one's files);
   * ``bench-csmall-N`` the same site with only the 10 files every lab site has;
   * ``bench-wbig-N`` / ``bench-wsmall-N`` on drupal-7.98-web4 (web4, one front) -> drupal-7.98-web4-b,
     a platform added for the bench with the same code (so the 1-front and 3-front sites have the
     same shape and the same files).
   The seed scenario has no two eligible cluster sites of the same shape, and no D7 target on web4,
   so the bench extends the world (``qm_lab.lab.build_lab_world`` is wrapped while the lab
   is built; nothing in the package changes).
2. Times ``qm-tui migrate URI PLATFORM --yes`` (a subprocess, wall clock) for every bench site,
   interleaved, and reads per-step times from the run journal; then (unless ``--no-mux``) the same
   again on fresh replicates with ssh connection sharing (ControlMaster) in aegir's ~/.ssh/config on M.
3. Times Aegir's classic path for the same 1 GB cluster site as the plain commands provision runs
   for the files (aegir@M, see ``classic_steps``), from where quick migrate left it back to
   drupal-7.97-a.
4. Writes its section of docs/benchmarks.md (between the bench_migrate markers; the rest of the
   file is left alone) unless ``--no-write``; prints the same Markdown.
5. Closes the lab and removes every file it made.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform as pyplatform
import random
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qm_lab import lab as lab_mod  # noqa: E402
from qm_lab import scenario  # noqa: E402
from qm_lab.drush_provision import VCS_FILES  # noqa: E402
from qm_lab.lab import Lab, build_lab  # noqa: E402
from qm_lab.world import World  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench_migrate:start -->", "<!-- bench_migrate:end -->"

SRC_C, DST_C = "drupal-7.97-a", "drupal-7.98-b"  # cluster (web1-3)
SRC_W, DST_W = "drupal-7.98-web4", "drupal-7.98-web4-b"  # web4, one front
KINDS = {  # kind -> (uri pattern, source platform, target platform, big?)
    "csmall": ("bench-csmall-{}.lab.test", SRC_C, DST_C, False),
    "cbig": ("bench-cbig-{}.lab.test", SRC_C, DST_C, True),
    "wsmall": ("bench-wsmall-{}.lab.test", SRC_W, DST_W, False),
    "wbig": ("bench-wbig-{}.lab.test", SRC_W, DST_W, True),
}
WARMUP = "bench-warmup.lab.test"  # migrated first, not counted: warms drush, MariaDB, ssh, page cache
LABEL = {"csmall": "cluster, 3 fronts, 10 files", "cbig": "cluster, 3 fronts, big",
         "wsmall": "web4, 1 front, 10 files", "wbig": "web4, 1 front, big"}
GOAL_SIZE, GOAL_CLASSIC, GOAL_FRONTS = 1.2, 10.0, 1.3


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the lab ------------------------------------------------------------------------------------

def add_bench_sites(w: World, repeat: int) -> None:
    """Bench sites (see the module docstring) and the web4 D7 target, appended to the seed scenario."""
    b = scenario._Builder(w)
    web4 = w.server("web4.lab.test")
    code = scenario.platform_code("7.98", scenario.D7_CONTRIB["b"], custom="acme_helpers#7001")
    b.platform(DST_W, "7.98", web4, code)
    client = next(c for c in w.clients if c.uname == "exampleorg")
    enabled = scenario.D7_MINIMAL | scenario.D7_CLEAN
    b.site(WARMUP, w.platform(SRC_C), "minimal", client, set(enabled))
    for n in range(1, repeat + 1):
        for pattern, src, _dst, _big in KINDS.values():
            b.site(pattern.format(n), w.platform(src), "minimal", client, set(enabled))
    if w.rid_collisions():
        raise RuntimeError(f"bench sites collide with profile iids: {sorted(w.rid_collisions())}")


def bench_world(repeat: int) -> contextlib.AbstractContextManager[None]:
    return extended_world(lambda w: add_bench_sites(w, repeat))


@contextlib.contextmanager
def extended_world(extend: Callable[[World], None]) -> Iterator[None]:
    """While the lab is built, its world is the seed scenario plus what ``extend`` adds."""
    orig = lab_mod.build_lab_world

    def build(prefix: str, **kw: Any) -> World:
        w = orig(prefix, **kw)
        extend(w)
        return w

    lab_mod.build_lab_world = build  # type: ignore[assignment]
    try:
        yield
    finally:
        lab_mod.build_lab_world = orig  # type: ignore[assignment]


def fronts_of(lab: Lab, platform: str) -> list[str]:
    return lab.world.fronts(lab.world.platform(platform).web_server)


# --- data ---------------------------------------------------------------------------------------

def file_sizes(total: int, count: int, seed: int = 7) -> list[int]:
    """``count`` sizes summing to ``total``: log-normal (many small, some multi-MB), at least 1 KiB."""
    rng = random.Random(seed)
    raw = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    scale = total / sum(raw)
    sizes = [max(1024, int(r * scale)) for r in raw]
    sizes[-1] = max(1024, sizes[-1] + total - sum(sizes))
    return sizes


def make_dataset(dest: Path, sizes: Sequence[int]) -> None:
    """Real bytes (os.urandom, incompressible like the JPEGs/PDFs of a real site) in 100-file dirs."""
    for i, size in enumerate(sizes):
        d = dest / f"{i // 100:03d}"
        if i % 100 == 0:
            d.mkdir(parents=True)
        with open(d / f"upload-{i:05d}.bin", "wb") as f:
            left = size
            while left:
                n = min(left, 4 << 20)
                f.write(os.urandom(n))
                left -= n


def install_dataset(lab: Lab, staging: Path, kinds: Sequence[str], repeat: int) -> int:
    """Copy the staging set into files/bench of the first big site of each kind on every front (cp -a:
    an independent copy per front, same mtimes everywhere, as after Aegir's own pushes). Replicates 2..N
    on a front hard-link replicate 1's files (cp -al): real bytes, but no extra GBs; the quick path only
    renames directories, and the classic path runs on replicate 1. Returns the number of full copies."""
    import grp
    import pwd
    uid, gid = pwd.getpwnam("aegir").pw_uid, grp.getgrnam("www-data").gr_gid
    for dirpath, _dirs, filenames in os.walk(staging):
        os.chown(dirpath, uid, gid)
        os.chmod(dirpath, 0o2770)
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chown(p, uid, gid)
            os.chmod(p, 0o664)
    copies = 0
    for kind in kinds:
        pattern, src, _dst, big = KINDS[kind]
        if not big:
            continue
        for host in fronts_of(lab, src):
            first = lab.site_dir(host, pattern.format(1), src) / "files" / "bench"
            subprocess.run(["cp", "-a", "--", str(staging), str(first)], check=True)
            copies += 1
            for n in range(2, repeat + 1):
                target = lab.site_dir(host, pattern.format(n), src) / "files" / "bench"
                subprocess.run(["cp", "-al", "--", str(first), str(target)], check=True)
    return copies


def tree_size(site_dir: Path) -> tuple[int, int]:
    """(regular files, bytes) under a site dir's files/ and private/files/."""
    count = size = 0
    for sub in ("files", "private/files"):
        for dirpath, _dirs, filenames in os.walk(site_dir / sub):
            for name in filenames:
                st = os.lstat(os.path.join(dirpath, name))
                count += 1
                size += st.st_size
    return count, size


# --- quick migrate ------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    hosts: list[str]
    start: float
    end: float

    @property
    def seconds(self) -> float:  # wall span (parallel steps of one name overlap)
        return self.end - self.start


@dataclass
class QuickRun:
    kind: str
    uri: str
    wall: float
    run_id: str
    engine: float = 0.0  # runs.ended_at - runs.started_at
    before: float = 0.0  # process start -> run start (CLI start, hostmaster reads, preflight)
    after: float = 0.0  # run end -> process exit
    phases: list[Phase] = field(default_factory=list)
    load: float = 0.0  # 1-min load average when the run started
    other_labs: int = 0  # lab hosts of other labs (other helpers, tests) running at the start


LAB_REGISTRY = Path("/run/qm-tui-lab")  # sshd.register(): one entry per running lab host, any lab


def other_lab_hosts(lab: Lab) -> int:
    try:
        return max(0, len(os.listdir(LAB_REGISTRY)) - len(lab.hosts.hosts))
    except OSError:
        return 0


def qm_tui_argv() -> list[str]:
    script = Path(sys.executable).with_name("qm-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qm_tui"]


def quick_migrate(lab: Lab, kind: str, uri: str, dst: str) -> QuickRun:
    argv = [*qm_tui_argv(), "--config", str(lab.config_path), "migrate", uri, dst, "--yes"]
    load, others = os.getloadavg()[0], other_lab_hosts(lab)
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"qm-tui migrate {uri} {dst} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    m = re.fullmatch(r"run (\S+)", first.strip())
    if not m:
        raise RuntimeError(f"no run id in the first output line: {first!r}")
    run = QuickRun(kind, uri, wall, m.group(1), load=load, other_labs=others)
    with contextlib.closing(sqlite3.connect(lab.state_dir / "journal.sqlite")) as db:
        started, ended, state = db.execute("SELECT started_at, ended_at, state FROM runs WHERE id = ?",
                                           (run.run_id,)).fetchone()
        if state != "succeeded":
            raise RuntimeError(f"run {run.run_id}: {state}")
        run.engine, run.before, run.after = ended - started, started - t0, t0 + wall - ended
        rows = db.execute("SELECT name, host, started_at, ended_at FROM steps WHERE run_id = ? ORDER BY seq",
                          (run.run_id,)).fetchall()
    for name, host, s, e in rows:  # consecutive steps of one name = one (parallel) phase
        if run.phases and run.phases[-1].name == name:
            ph = run.phases[-1]
            ph.hosts.append(host)
            ph.start, ph.end = min(ph.start, s), max(ph.end, e)
        else:
            run.phases.append(Phase(name, [host], s, e))
    return run


def check_moved(lab: Lab, kind: str, n: int, expect: tuple[int, int]) -> None:
    """After a quick migrate every front has the files, whole, in the new site dir."""
    pattern, src, dst, _big = KINDS[kind]
    uri = pattern.format(n)
    for host in fronts_of(lab, src):
        got = tree_size(lab.site_dir(host, uri, dst))
        if got != expect:
            raise RuntimeError(f"{uri} on {host}: files/ + private/files/ hold {got}, expected {expect}")


# --- Aegir's classic path, as plain commands ----------------------------------------------------

RSH = "ssh -o PasswordAuthentication=no"  # provision's default ssh-options
PUSH = ["rsync", "-e", RSH, "-akz", *(f"--exclude={v}" for v in VCS_FILES)]
PUSH_TAIL = ["--relative", "--keep-dirlinks", "--omit-dir-times", "--delete"]


@dataclass
class ClassicStep:
    label: str
    what: str  # what Aegir does there (shown in the report)
    scripts: list[str]  # bash scripts run in turn as aegir on M (sequentially, as provision does)
    seconds: float = 0.0
    load: float = 0.0  # 1-min load average at the start


def q(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def classic_steps(lab: Lab, uri: str, old: str, new: str, fronts: Sequence[str]) -> list[ClassicStep]:
    """Provision's file work for migrating a cluster site ``old`` -> ``new`` (research/aegir.md §3.3-3.9)."""
    w = lab.world
    old_root, new_root = w.platform(old).publish_path, w.platform(new).publish_path
    old_sp, new_sp = f"{old_root}/sites/{uri}", f"{new_root}/sites/{uri}"
    stamp = time.strftime("%Y%m%d.%H%M%S")
    tarball = f"/var/aegir/backups/{uri}-{stamp}.tar.gz"
    front0 = fronts[0]
    fetch = []
    for rel in ("files/", "private/", "modules/", "themes/", "libraries/", "local.settings.php"):
        if os.path.lexists(lab.path(front0, f"{old_sp}/{rel}")):
            fetch.append(q(["rsync", "-e", RSH, "-akz", "--omit-dir-times", "--delete",
                            f"aegir@{front0}:{old_sp}/{rel}", f"{old_sp}/{rel}"]))

    def push(root: str, sp: str) -> list[str]:
        out = []
        for h in fronts:
            out.append(q([*PUSH, "--include=sites/all", "--exclude=sites/*", *PUSH_TAIL, root, f"aegir@{h}:/"]))
            out.append(q([*PUSH, *PUSH_TAIL, sp, f"aegir@{h}:/"]))  # cluster: nothing excluded
        return out

    dirs = " ".join(shlex.quote(d) for d in ("files", "private/files", "private/temp"))
    return [
        ClassicStep("fetch", f"backup: `provision_drupal_fetch_site()`, rsync -akz --delete of files/, private/, "
                    f"modules/, themes/, libraries/, local.settings.php from {front0} into M's site dir "
                    "(one rsync per path)", fetch),
        ClassicStep("tar", "backup: `cd <site_path> && tar cpfz <backups>/<uri>-<date>.tar.gz .`",
                    [f"cd {shlex.quote(old_sp)} && tar cpfz {shlex.quote(tarball)} ."]),
        ClassicStep("push old", "migrate pre: `provision_drupal_push_site()`: platform (sites/all only) and "
                    "site dir to each front, one after the other (a quick-check no-op: same files, same mtimes)",
                    push(old_root, old_sp)),
        ClassicStep("extract", "deploy pre: `gunzip -c <tarball> | tar pxf -` in the new site dir",
                    [f"mkdir -p {shlex.quote(new_sp)} && cd {shlex.quote(new_sp)} && "
                     f"gunzip -c {shlex.quote(tarball)} | tar pxf -"]),
        ClassicStep("chgrp", "deploy pre: `chgrp -R www-data` files, private/files, private/temp",
                    [f"cd {shlex.quote(new_sp)} && for d in {dirs}; do [ -e \"$d\" ] && chgrp -R www-data \"$d\"; "
                     "done; true"]),
        ClassicStep("push new", "deploy pre: push_site with override_slave_authority: platform and the new site "
                    "dir WITH files to each front, one after the other", push(new_root, new_sp)),
        ClassicStep("verify push", "migrate: provision-verify of the new site pushes twice more (validate and "
                    "pre), each a quick-check over every file, per front", push(new_root, new_sp) * 2),
        ClassicStep("remove old", "migrate post: delete the old site dir on M, then `http->sync()` of the "
                    "missing path = `ssh <front> rm -rf` per front",
                    [f"rm -rf {shlex.quote(old_sp)}",
                     *(q(["ssh", "-o", "PasswordAuthentication=no", f"aegir@{h}", f"rm -rf {shlex.quote(old_sp)}"])
                       for h in fronts)]),
    ]


def run_classic(lab: Lab, steps: list[ClassicStep]) -> None:
    m = lab.hosts[lab_mod.MASTER]
    for st in steps:
        st.load = os.getloadavg()[0]
        t0 = time.monotonic()
        for script in st.scripts:
            r = m.exec_in(["bash", "-c", "set -o pipefail; " + script], timeout=3600)
            if r.returncode != 0:
                raise RuntimeError(f"classic {st.label}: exit {r.returncode}: {script}\n{r.stderr[-2000:]}")
        st.seconds = time.monotonic() - t0
        log(f"classic {st.label}: {st.seconds:.1f} s")


# --- report -------------------------------------------------------------------------------------

def sh(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def first_line(*argv: str) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return " ".join(((r.stdout or r.stderr).strip().splitlines() or [""])[0].split())


def code_version() -> str:
    head = first_line("git", "-C", str(REPO), "rev-parse", "--short", "HEAD") or "?"
    try:
        st = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "qm_tui"], capture_output=True,
                            text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return head
    dirty = len(st.splitlines())
    return f"commit {head}" + (f" + {dirty} uncommitted file(s) under qm_tui/ (the working tree)" if dirty else "")


def machine(base: Path) -> dict[str, str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), pyplatform.processor() or "?")
    mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                  if ln.startswith("MemTotal:"))
    src = sh("findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(base))
    dev = src.split()[0] if src else ""
    disk = src
    name = Path(dev).name
    rota = Path(f"/sys/block/{name}/queue/rotational")
    if rota.exists():
        kind = "virtio block device (virtual; backing storage unknown)" if name.startswith("vd") else (
            "rotational" if rota.read_text().strip() == "1" else "SSD/NVMe")
        disk = f"{src} — {kind}"
    return {
        "cpu": f"{os.cpu_count()} × {cpu}",
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "disk": disk,
        "code": code_version(),
        "os": f"{sh('sh', '-c', '. /etc/os-release && echo $PRETTY_NAME')}, kernel {pyplatform.release()}",
        "tools": ", ".join(filter(None, [first_line("rsync", "--version"), first_line("ssh", "-V"),
                                         first_line("gzip", "--version"), first_line("tar", "--version")])),
    }


def med(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt(x: float) -> str:
    return f"{x:.2f}"


def mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


@dataclass
class Results:
    args: argparse.Namespace
    big: tuple[int, int]  # files, bytes in a big site's files/ (per front)
    small: tuple[int, int]
    runs: dict[str, list[QuickRun]]
    mux_runs: dict[str, list[QuickRun]]  # the same with ssh connection sharing on M (empty: --no-mux)
    classic: list[ClassicStep]
    classic_uri: str
    timings: dict[str, float]
    info: dict[str, str]
    date: str

    def median(self, kind: str, mux: bool = False) -> float:
        return med([r.wall for r in (self.mux_runs if mux else self.runs)[kind]])

    def best(self, kind: str, mux: bool = False) -> float:
        return min(r.wall for r in (self.mux_runs if mux else self.runs)[kind])

    def step_sum(self, kind: str, mux: bool = False) -> float:
        """Sum over steps of the median step time, plus the median time before and after the run."""
        runs = (self.mux_runs if mux else self.runs)[kind]
        names = {p.name for r in runs for p in r.phases}
        return (sum(med([sum(p.seconds for p in r.phases if p.name == n) for r in runs]) for n in names)
                + med([r.before for r in runs]) + med([r.after for r in runs]))


def render(res: Results) -> str:
    a = res.args
    classic = sum(s.seconds for s in res.classic)
    moving = sum(s.seconds for s in res.classic if s.label in ("fetch", "tar", "extract", "push new"))
    loads = [r.load for d in (res.runs, res.mux_runs) for v in d.values() for r in v]
    others = [r.other_labs for d in (res.runs, res.mux_runs) for v in d.values() for r in v]
    c_loads = [s.load for s in res.classic]

    def ratios(stat: Callable[[str], float]) -> tuple[float, float, float, float]:
        cs, cb, ws, wb = (stat(k) for k in ("csmall", "cbig", "wsmall", "wbig"))
        return cb / cs, classic / cb, cb / wb, cs / ws

    best, mid, ssum = ratios(res.best), ratios(res.median), ratios(res.step_sum)
    cb_best = res.best("cbig")
    hardlinks = f"; replicates 2..{a.repeat} hard-link replicate 1's files on the same front" if a.repeat > 1 else ""

    def verdict(xs: Sequence[float], ok: Callable[[float], bool]) -> str:
        hits = [ok(x) for x in xs]
        return "met" if all(hits) else "**missed**" if not any(hits) else "**borderline** (estimates disagree)"

    def row(label: str, i: int, goal: str, ok: Callable[[float], bool] | None, unit: str = "") -> str:
        form = "{:.1f}" if unit else "{:.2f}"
        cells = " | ".join(form.format(v[i]) + unit for v in (best, mid, ssum))
        if ok is None:
            return f"| {label} | {cells} | | |"
        return f"| {label} | {cells} | {goal} | {verdict([best[i], mid[i], ssum[i]], ok)} |"

    lines = [
        START,
        "## Quick migrate vs classic (issue: engine)",
        "",
        f"Measured {res.date} by `bench/bench_migrate.py --size-mb {a.size_mb} --files {a.files} "
        f"--repeat {a.repeat}` on the lab (docs/lab.md): 5 sshd hosts on one machine, ssh over loopback.",
        "",
        f"- machine: {res.info['cpu']}; RAM {res.info['ram']}; disk {res.info['disk']}",
        f"- {res.info['os']}; {res.info['tools']}",
        f"- qm-tui: {res.info['code']}",
        f"- big site: {res.big[0]:,} files, {mib(res.big[1])} in `files/` + `private/files/` on **each** front "
        f"({a.files:,} bulk files of real random bytes, log-normal sizes 1 KiB to a few MiB, + the 10 every lab "
        f"site has{hardlinks}); small site: "
        f"{res.small[0]} files, {res.small[1]:,} bytes. All bench sites: D7, profile minimal, same modules.",
        f"- quick runs: `qm-tui migrate URI PLATFORM --yes`, wall clock of the subprocess (CLI start, hostmaster "
        f"reads, preflight and all steps), {a.repeat} sites per kind, interleaved; every run checked "
        f"afterwards (each front's new site dir holds the same file count and bytes); one warm-up migrate of "
        f"another small cluster site first, not counted ({res.timings['warmup']:.2f} s)",
        f"- setup (not timed in the results): lab {res.timings['lab']:.0f} s, data set "
        f"{res.timings['generate']:.0f} s, {int(res.timings['copies'])} full copies {res.timings['copy']:.0f} s, "
        f"`sync` {res.timings['sync']:.0f} s (dirty pages are flushed before timing)",
        f"- **the machine was shared**: 1-min load average {min(loads):.1f}–{max(loads):.1f} at the start of the "
        f"quick runs ({min(c_loads):.1f}–{max(c_loads):.1f} during the classic one), with "
        f"{min(others)}–{max(others)} lab hosts of other labs (test suites of other sessions) running. Other "
        "load can only add time: compare the load figures before comparing runs.",
        "",
        "### Results",
        "",
        "| measurement | best (s) | median (s) | runs (s) [load at start] |",
        "|---|---:|---:|---|",
    ]
    for kind in ("csmall", "cbig", "wsmall", "wbig"):
        lines.append(f"| quick, {LABEL[kind]} | {fmt(res.best(kind))} | {fmt(res.median(kind))} | "
                     + ", ".join(f"{fmt(r.wall)} [{r.load:.1f}]" for r in res.runs[kind]) + " |")
    lines += [
        f"| classic (plain commands), cluster, big | {classic:.1f} | | 1 run |",
        "",
        "Three estimates per ratio: best runs, median runs, and the sums of the per-step medians below "
        "(least sensitive to a slow run). A goal is met when all three meet it.",
        "",
        "| ratio | best | median | step-median sums | goal | verdict |",
        "|---|---:|---:|---:|---|---|",
        row("quick big / quick 10 files (3 fronts)", 0, f"<= {GOAL_SIZE}", lambda x: x <= GOAL_SIZE),
        row("classic / quick, big site (3 fronts)", 1, f">= {GOAL_CLASSIC:.0f}×", lambda x: x >= GOAL_CLASSIC, "×"),
        row("quick 3 fronts / 1 front, big site", 2, f"<= {GOAL_FRONTS}", lambda x: x <= GOAL_FRONTS),
        row("(quick 3 fronts / 1 front, 10 files)", 3, "", None),
        "",
        "### Quick path, per step (median seconds; parallel steps counted once, as their wall span)",
        "",
        "| step | " + " | ".join(LABEL[k] for k in ("csmall", "cbig", "wsmall", "wbig")) + " |",
        "|---|" + "---:|" * 4,
    ]
    names: list[str] = []
    for kind in ("cbig", "csmall", "wbig", "wsmall"):
        for r in res.runs[kind]:
            for ph in r.phases:
                if ph.name not in names:
                    names.append(ph.name)

    def ph_med(kind: str, name: str) -> str:
        xs = [sum(p.seconds for p in r.phases if p.name == name) for r in res.runs[kind]]
        return fmt(med(xs)) if any(xs) else "—"

    def hosts(name: str) -> str:
        hs = {len(p.hosts) for k in ("cbig",) for r in res.runs[k] for p in r.phases if p.name == name}
        return f" (×{max(hs)} fronts in parallel)" if hs and max(hs) > 1 and name != "push_site" else (
            " (×3, in parallel, from M)" if name == "push_site" else "")

    rows = [("CLI start + hostmaster reads + preflight", [fmt(med([r.before for r in res.runs[k]]))
                                                          for k in ("csmall", "cbig", "wsmall", "wbig")])]
    rows += [(f"`{n}`{hosts(n)}", [ph_med(k, n) for k in ("csmall", "cbig", "wsmall", "wbig")]) for n in names]
    rows += [("run end -> exit", [fmt(med([r.after for r in res.runs[k]])) for k in ("csmall", "cbig", "wsmall",
                                                                                    "wbig")])]
    lines += [f"| {label} | " + " | ".join(vals) + " |" for label, vals in rows]
    lines += [
        "",
        "### Classic path (Aegir's file work as plain commands, aegir@M, one after the other)",
        "",
        f"Same big site ({res.classic_uri}), from where quick migrate left it ({DST_C}) back to {SRC_C}; "
        "the fronts are pushed one after the other because provision's cluster service loops over them "
        "in one PHP process (research/aegir.md §3.9); nothing in Aegir's migrate runs in parallel. rsync "
        "flags as drush 8 builds them (`-akz`, `--relative --keep-dirlinks --omit-dir-times --delete`, VCS "
        "excludes); `-z` lets this rsync negotiate its default compressor.",
        "",
        "| step | what Aegir does | s |",
        "|---|---|---:|",
    ]
    lines += [f"| {s.label} | {s.what} | {s.seconds:.1f} |" for s in res.classic]
    lines += [
        f"| **total** | | **{classic:.1f}** |",
        "",
        f"Data-moving steps alone (fetch, tar, extract, push new): {moving:.1f} s = {moving / cb_best:.1f}× the "
        "best quick migrate. The classic figure is a **lower bound** for a real Aegir migrate: it leaves out "
        "the DB dump and import, `updatedb`, the forced platform/site verify tasks with their three `sleep(5)` (§3.3 "
        "step 8-9), vhost rewrites and reloads, and the network: here every transfer is loopback between "
        "processes on one 2-core machine (a 1 Gbit/s link alone would need ~9 s per GB per front).",
        "",
        "### What dominates the quick path",
        "",
    ]
    lines += notes(res)
    lines += mux_section(res)
    lines += [
        "",
        "### Re-run",
        "",
        "```sh",
        ".venv/bin/python bench/bench_migrate.py                 # 1 GiB, 4000 files, 5 + 5 runs per kind (~8 min)",
        ".venv/bin/python bench/bench_migrate.py --size-mb 64 --files 300 --repeat 1 --no-write   # smoke test",
        "```",
        "",
        "Needs root, user namespaces and MariaDB on 127.0.0.1:3306 (like the integration tests) and about "
        f"11 × size + 2 GiB of free disk ({11 * a.size_mb / 1024 + 2:.0f} GiB here). Everything it creates is "
        "removed at the end.",
        END,
    ]
    return "\n".join(lines) + "\n"


def notes(res: Results) -> list[str]:
    """Facts from the per-step medians, for the 'what dominates' paragraph."""
    def ph(kind: str, name: str) -> float:
        return med([sum(p.seconds for p in r.phases if p.name == name) for r in res.runs[kind]])

    drush = ("maintenance_on", "provision_save", "updatedb", "cache_clear", "verify", "hosting_import",
             "maintenance_off")
    drush_c = sum(ph("cbig", n) for n in drush)
    files_c = sum(ph("cbig", n) for n in ("park_files", "set_aside_master_files", "move_site_dir", "restore_files",
                                          "remove_old_site_dir"))
    before = med([r.before for r in res.runs["cbig"]])
    verify_c, verify_w = ph("cbig", "verify"), ph("wbig", "verify")
    push_c, push_w = ph("cbig", "push_site"), ph("wbig", "push_site")
    fetch_w = ph("wbig", "fetch_code")
    sc, sw, ss = res.step_sum("cbig"), res.step_sum("wbig"), res.step_sum("csmall")
    return [
        f"- The file moves themselves (park, set aside, move site dir, restore, remove old: renames and "
        f"`rm` of the emptied dir) take {files_c:.2f} s in all on the big cluster site (median per step): "
        "renames do not look at the files, which is why size does not matter (sum of the step medians: "
        f"{sc:.2f} s big vs {ss:.2f} s with 10 files).",
        f"- The drush calls on M take {drush_c:.2f} s of the {sc:.2f} s. `provision-verify` alone is "
        f"{verify_c:.2f} s on the cluster vs {verify_w:.2f} s on web4: like provision, the stand-in pushes the "
        "platform and the site dir to every front twice and a vhost per front, **one front after the other** "
        "(15 rsync/ssh sessions for 3 fronts, 5 for one). Each other drush call is ~0.1 s of stand-in "
        "start-up (a real drush bootstrap is slower, so the real fixed cost is higher).",
        f"- qm-tui's own `push_site` runs the fronts in parallel ({push_c:.2f} s for 3 vs {push_w:.2f} s for "
        f"one). `fetch_code` (web4 only: a non-cluster front is authoritative for the site's modules/, themes/, "
        f"libraries/, local.settings.php) costs {fetch_w:.2f} s: one `ssh test` and one rsync per path, in "
        f"sequence. CLI start, hostmaster reads and preflight (ssh connections to M and every front) take "
        f"{before:.2f} s, of which {res.timings['cli_version']:.2f} s is starting Python and qm-tui "
        "(`qm-tui --version`).",
        f"- 3 fronts vs 1 (sum of step medians {sc:.2f} / {sw:.2f} s = {sc / sw:.2f}): verify "
        f"+{verify_c - verify_w:.2f} s, push_site +{push_c - push_w:.2f} s, while the 1-front site pays "
        f"{fetch_w:.2f} s of fetch_code the cluster does not. The difference is the sequential pushes inside "
        "`provision-verify`, which qm-tui runs but does not control.",
    ]


def mux_section(res: Results) -> list[str]:
    """The second quick series: the same migrations with ssh connection sharing for aegir on M."""
    if not res.mux_runs:
        return []

    def ph(runs: dict[str, list[QuickRun]], kind: str, name: str) -> float:
        return med([sum(p.seconds for p in r.phases if p.name == name) for r in runs[kind]])

    kinds = ("csmall", "cbig", "wsmall", "wbig")
    lines = [
        "",
        "### The same with ssh connection sharing on M",
        "",
        "A second series on fresh replicates of the same sites, with this appended to aegir's `~/.ssh/config` "
        "on M (a deployment setting, no code change; it applies to provision's rsync/ssh and to qm-tui's own "
        "`push_site`/`fetch_code`):",
        "",
        "```",
        MUX.strip("\n"),
        "```",
        "",
        "| kind | best (s) | median (s) | without sharing: best (s) | `verify` median (s) | `fetch_code` median (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k in kinds:
        fc = ph(res.mux_runs, k, "fetch_code")
        lines.append(f"| {LABEL[k]} | {fmt(res.best(k, True))} | {fmt(res.median(k, True))} | {fmt(res.best(k))} | "
                     f"{fmt(ph(res.mux_runs, k, 'verify'))} (was {fmt(ph(res.runs, k, 'verify'))}) | "
                     + (f"{fmt(fc)} (was {fmt(ph(res.runs, k, 'fetch_code'))})" if fc else "—") + " |")
    est = [{k: f(k, True) for k in kinds} for f in (res.best, res.median, res.step_sum)]
    classic = sum(st.seconds for st in res.classic)

    def trio(num: str, den: str) -> str:
        return " / ".join(f"{e[num] / e[den]:.2f}" for e in est)

    lines += [
        "",
        f"Ratios with sharing (best / median / step-median sums): big / 10 files {trio('cbig', 'csmall')} "
        f"(goal <= {GOAL_SIZE}); 3 fronts / 1 front, big {trio('cbig', 'wbig')} (goal <= {GOAL_FRONTS}); "
        "classic (without sharing) / quick " + " / ".join(f"{classic / e['cbig']:.1f}×" for e in est)
        + f" (goal >= {GOAL_CLASSIC:.0f}×).",
    ]
    return lines


def write_section(path: Path, section: str, title: str, start: str = START, end: str = END) -> None:
    """Replace (or append) a marked section; re-read right before writing (other benches write the file)."""
    text = path.read_text() if path.exists() else title
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        new = head + section + ("\n" + tail if tail else "")
    else:
        new = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_name(path.name + ".bench.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


# --- main ---------------------------------------------------------------------------------------

def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--size-mb", type=int, default=1024, help="MiB of files in a big site (default 1024)")
    p.add_argument("--files", type=int, default=4000, help="files in a big site (default 4000)")
    p.add_argument("--repeat", type=int, default=5, help="quick runs per kind (default 5; best and median)")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the lab dir (default: system temp)")
    p.add_argument("--no-write", action="store_true", help="print the Markdown, do not touch docs/")
    p.add_argument("--no-mux", dest="mux", action="store_false",
                   help="skip the second quick series with ssh connection sharing (ControlMaster) on M")
    p.add_argument("--json", type=Path, default=None, help="also write raw results as JSON here")
    a = p.parse_args(argv)
    if a.size_mb < 1 or a.files < 1 or a.repeat < 1:
        p.error("--size-mb, --files and --repeat must be positive")
    return a


def check_disk(base: Path, a: argparse.Namespace) -> None:
    need = 11 * a.size_mb * (1 << 20) + (2 << 30)  # 4 fronts' copies + classic: fetch, tarball, extract, 3 pushes
    free = shutil.disk_usage(base).free
    if free < need:
        raise SystemExit(f"bench: needs ~{need / (1 << 30):.1f} GiB free under {base}, has {free / (1 << 30):.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (the lab needs namespaces and the aegir user)")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    check_disk(Path(a.workdir or tempfile.gettempdir()), a)
    base = Path(tempfile.mkdtemp(prefix="qm-bench-migrate-", dir=a.workdir))
    lab: Lab | None = None
    timings: dict[str, float] = {}
    try:
        t = time.monotonic()
        with bench_world(a.repeat * (2 if a.mux else 1)):
            lab = build_lab(base / "lab")
        timings["lab"] = time.monotonic() - t
        log(f"lab built in {timings['lab']:.1f} s: {lab.config_path}")
        res = bench(lab, base, a, timings)
    finally:
        if lab is not None:
            lab.close()
        shutil.rmtree(base, ignore_errors=True)
        log("lab closed, work dir removed")
    section = render(res)
    print(section)
    if a.json:
        a.json.write_text(json.dumps(raw(res), indent=2))
    if not a.no_write:
        write_section(DOC, section, "# Benchmarks\n")
        log(f"wrote {DOC.relative_to(REPO)}")
    return 0


def bench(lab: Lab, base: Path, a: argparse.Namespace, timings: dict[str, float]) -> Results:
    info = machine(base)  # before the runs: the code version is the one measured
    total = a.size_mb << 20
    staging = base / "dataset"
    t = time.monotonic()
    make_dataset(staging, file_sizes(total, a.files))
    timings["generate"] = time.monotonic() - t
    log(f"data set: {a.files} files, {a.size_mb} MiB in {timings['generate']:.1f} s")
    t = time.monotonic()
    timings["copies"] = install_dataset(lab, staging, list(KINDS), a.repeat * (2 if a.mux else 1))
    shutil.rmtree(staging)
    timings["copy"] = time.monotonic() - t
    t = time.monotonic()
    os.sync()
    timings["sync"] = time.monotonic() - t
    log(f"{timings['copies']:.0f} copies in {timings['copy']:.1f} s, sync {timings['sync']:.1f} s")
    sizes = {k: tree_size(lab.site_dir(fronts_of(lab, KINDS[k][1])[0], KINDS[k][0].format(1), KINDS[k][1]))
             for k in KINDS}
    t = time.monotonic()
    first_line(*qm_tui_argv(), "--version")
    timings["cli_version"] = time.monotonic() - t
    warm = quick_migrate(lab, "warmup", WARMUP, DST_C)
    timings["warmup"] = warm.wall
    log(f"warm-up migrate: {warm.wall:.2f} s; `qm-tui --version`: {timings['cli_version']:.2f} s")
    runs = quick_series(lab, range(1, a.repeat + 1), sizes, "")
    mux_runs: dict[str, list[QuickRun]] = {}
    if a.mux:
        with ssh_mux_on_master(lab):
            mux_runs = quick_series(lab, range(a.repeat + 1, 2 * a.repeat + 1), sizes, "mux ")
    uri = KINDS["cbig"][0].format(1)
    fronts = fronts_of(lab, SRC_C)
    steps = classic_steps(lab, uri, DST_C, SRC_C, fronts)
    os.sync()
    run_classic(lab, steps)
    for h in fronts:  # the classic path really moved the files
        got = tree_size(lab.site_dir(h, uri, SRC_C))
        if got != sizes["cbig"]:
            raise RuntimeError(f"classic: {uri} on {h} has {got}, expected {sizes['cbig']}")
        if lab.site_dir(h, uri, DST_C).exists():
            raise RuntimeError(f"classic: old site dir left on {h}")
    return Results(a, sizes["cbig"], sizes["csmall"], runs, mux_runs, steps, uri, timings, info,
                   dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def quick_series(lab: Lab, replicates: Iterable[int], sizes: dict[str, tuple[int, int]],
                 tag: str) -> dict[str, list[QuickRun]]:
    """One quick migrate per kind and replicate, interleaved; each checked afterwards."""
    runs: dict[str, list[QuickRun]] = {k: [] for k in KINDS}
    for n in replicates:
        for kind in ("csmall", "cbig", "wsmall", "wbig"):
            r = quick_migrate(lab, kind, KINDS[kind][0].format(n), KINDS[kind][2])
            check_moved(lab, kind, n, sizes[kind])
            runs[kind].append(r)
            log(f"{tag}quick {kind} #{n}: {r.wall:.2f} s (run {r.run_id})")
    return runs


MUX = "\nHost *\n    ControlMaster auto\n    ControlPath ~/.ssh/cm-%C\n    ControlPersist 60\n"


@contextlib.contextmanager
def ssh_mux_on_master(lab: Lab) -> Iterator[None]:
    """ssh connection sharing for aegir on M (the ssh/rsync of provision and of qm-tui's own steps)."""
    cfg = lab.root(lab_mod.MASTER) / ".ssh" / "config"
    before = cfg.read_text()
    with open(cfg, "a") as f:
        f.write(MUX)
    try:
        yield
    finally:
        with open(cfg, "w") as f:  # keep owner and mode
            f.write(before)


def raw(res: Results) -> dict[str, Any]:
    return {
        "date": res.date, "machine": res.info, "size_mb": res.args.size_mb, "files": res.args.files,
        "big": res.big, "small": res.small, "timings": res.timings,
        "quick": runs_json(res.runs), "quick_ssh_mux": runs_json(res.mux_runs),
        "classic": [(s.label, s.seconds) for s in res.classic],
    }


def runs_json(runs: dict[str, list[QuickRun]]) -> dict[str, list[dict[str, Any]]]:
    return {k: [{"uri": r.uri, "wall": r.wall, "run_id": r.run_id, "before": r.before, "engine": r.engine,
                 "after": r.after, "load": r.load, "other_lab_hosts": r.other_labs,
                 "phases": [(p.name, p.hosts, p.seconds) for p in r.phases]} for r in v] for k, v in runs.items()}


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
