"""TUI benchmark on a 10,000-site hostmaster (see bench/README.md).

Builds the same hostmaster as bench_inventory.py (its builder and loader, imported), then measures
in fresh headless ``qm-tui`` processes (bench/tui_drive.py):

* startup: from spawning ``qm-tui --config ...`` to the first frame that shows the site rows and then
  to the frame after a key (the table is usable), ``--repeat`` times;
* filter: in the same processes, 33 keystrokes in the filter box (15 backspaces), each from the key
  to the first frame with the new rows;
* flood: the Run screen attached to a run whose 3 fronts each write 5,000 lines/s for 10 s (plus the
  hostmaster pane) through the Journal API, keys pressed during it, RSS sampled every second.

The database, its accounts and the temporary state are removed at the end, also on failure.
It never exits non-zero because a goal was missed: the figures are the result.

    .venv/bin/python bench/bench_tui.py [--parts startup,filter,flood] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_inventory as inv  # bench/ is sys.path[0]: its world builder, loader and config writer
import yaml
from tui_feed import FRONTS, MASTER

from qm_tui.engine.journal import Journal, new_run_id

DRIVE = Path(__file__).resolve().parent / "tui_drive.py"
GOAL_STARTUP_S, GOAL_KEY_S, GOAL_FLOOD_P95_S = 1.5, 0.050, 0.100
KEY_SHOWN = {"right_square_bracket": "]", "left_square_bracket": "["}


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(math.ceil(0.95 * len(s)) - 1, 0)]


def child(tmp: Path, name: str, before: list[str], after: list[str]) -> tuple[dict[str, Any], float, float]:
    """``tui_drive.py *before OUT *after``: its result, its spawn time (monotonic), the 1-min load before."""
    out = tmp / f"{name}.json"
    load = os.getloadavg()[0]
    gc.collect()
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(DRIVE), *before, str(out), *after], cwd=inv.ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0 or not out.exists():
        raise SystemExit(f"{name} failed ({r.returncode}): {r.stderr.strip()[-3000:]}")
    res = json.loads(out.read_text())
    if res.get("error"):
        raise SystemExit(f"{name} failed: {res['error']}")
    return res, t0, load


def startup(tmp: Path, conf: Path, args: argparse.Namespace, with_filter: bool) -> dict[str, Any]:
    runs, keys = [], []
    for i in range(args.repeat):
        after = ["--size", args.size] + ([] if with_filter else ["--no-filter"])
        if args.experiment:
            after += ["--experiment", args.experiment]
        res, t0, load = child(tmp, f"sites{i}", ["sites", str(conf)], after)
        run = {"load_1m": round(load, 2), "rows": res["rows"],
               "usable_s": res["t_key_frame"] - t0, "rows_frame_s": res["t_rows_frame"] - t0,
               "interpreter_s": res["t_main"] - t0, "imports_s": res["t_imported"] - res["t_main"],
               "app_to_first_frame_s": res["t_first_frame"] - res["t_app"],
               "service_load_s": res["t_load_end"] - res["t_load_start"],
               "loaded_to_rows_frame_s": res["t_rows_frame"] - res["t_load_end"], "key_s": res["key_s"],
               "usable_cpu_s": res["cpu_key_frame"], "gc_s": res["startup_gc"]["all_s"],
               "rss_mib": round(res["rss_kib"] / 1024, 1)}
        runs.append(run)
        if with_filter:
            keys.append({"load_1m": round(os.getloadavg()[0], 2), "keys": res["filter"], "gc": res["filter_gc"]})
        print(f"  startup run {i + 1}: usable {run['usable_s']:.3f} s (rows {run['rows_frame_s']:.3f} s), "
              f"load {load:.2f}", file=sys.stderr)
    return {"runs": runs, "filter_runs": keys}


def flood(tmp: Path, conf: Path, state: Path, args: argparse.Namespace) -> dict[str, Any]:
    j = Journal(state)
    run_id = new_run_id()
    steps = [("maintenance", MASTER, "Maintenance mode on"), ("dump_db", MASTER, "Dump the database")]
    steps += [("push_site", f, f"Push the site to {f}") for f in FRONTS]
    plan = {"context": {"master_title": MASTER, "master": "localhost"}, "steps": [list(s) for s in steps]}
    j.create_run(run_id, "site00042.scale.test", 42, "scale-7.98-000", "scale-7.98-001", plan, steps)
    j.close()  # create_run recorded this (live) process as the runner; the feeder heartbeats
    after = ["--size", args.size, "--state-dir", str(state), "--rate", str(args.rate),
             "--master-rate", str(args.master_rate), "--seconds", str(args.seconds),
             "--batch-ms", str(args.batch_ms), "--key-gap", str(args.key_gap)]
    if args.experiment:
        after += ["--experiment", args.experiment]
    res, _t0, load = child(tmp, "flood", ["run", str(conf), run_id], after)
    feed = res["feed"]
    lat = [k["s"] for k in res["keys"]]
    done = [x for x in lat if x is not None]
    cpu = [k["cpu"] for k in res["keys"] if k["cpu"] is not None]
    t_feed, t_feed_end = feed["t0"], feed["t_end"]
    samples = res["samples"]
    during = [s for s in samples if t_feed <= s["t"] <= t_feed_end + 0.5]
    absorbed_feed = (sum(during[-1]["counts"].values()) - sum(during[0]["counts"].values())) if len(during) > 1 else 0
    span = (during[-1]["t"] - during[0]["t"]) if len(during) > 1 else 1
    writes = res["writes"]
    return {
        "load_1m": round(load, 2), "load_1m_after": round(os.getloadavg()[0], 2), "experiment": args.experiment,
        "sites": res["sites"], "keys": len(lat), "keys_lost": len(lat) - len(done),
        "key_median_s": statistics.median(done) if done else None, "key_p95_s": p95(done) if done else None,
        "key_max_s": max(done) if done else None,
        "key_cpu_median_s": statistics.median(cpu) if cpu else None, "key_cpu_p95_s": p95(cpu) if cpu else None,
        "key_runs": [(k["key"], k["s"]) for k in res["keys"]],
        "emitted": feed["total"], "emitted_per_s": feed["total"] / (t_feed_end - t_feed),
        "emitted_per_second": feed["per_second"], "feed_batches": feed["batches"],
        "feed_insert_s": feed["insert_s"],
        "absorbed_per_s": absorbed_feed / span,
        "cpu_share": (during[-1]["cpu"] - during[0]["cpu"]) / span if len(during) > 1 else 0.0,
        "absorbed_per_second": [sum(b["counts"].values()) - sum(a["counts"].values())
                                for a, b in zip(samples, samples[1:], strict=False)],
        "absorbed_by_feed_end": sum(during[-1]["counts"].values()) if during else 0,
        "catch_up_s": res["catch_up_s"], "gc": res["gc"], "first_look_s": res.get("first_look_s"),
        "rss_start_mib": res["rss_start_kib"] / 1024, "rss_peak_mib": max(s["rss_kib"] for s in samples) / 1024,
        "rss_end_mib": res["rss_end_kib"] / 1024, "hwm_mib": res["hwm_kib"] / 1024,
        "rss_per_second_mib": [round(s["rss_kib"] / 1024, 1) for s in samples],
        "held_max": max(max(s["panes"].values()) for s in samples), "drawn": res["drawn"],
        "panes_end": res["panes_end"], "max_lines": res["max_lines"],
        "writes": len(writes), "write_lines_median": statistics.median([w[1] for w in writes]) if writes else 0,
        "write_s_median": statistics.median([w[2] for w in writes]) if writes else 0,
        "write_s_max": max((w[2] for w in writes), default=0),
        "write_us_per_line": 1e6 * sum(w[2] for w in writes) / max(sum(w[1] for w in writes), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="startup,filter,flood", help="comma-separated: startup, filter, flood")
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--platforms", type=int, default=200)
    ap.add_argument("--modules", type=int, default=150, help="modules (and themes) per site")
    ap.add_argument("--repeat", type=int, default=5, help="start-up runs (each also types the filter keys)")
    ap.add_argument("--size", default="120x36", help="terminal size, COLSxROWS")
    ap.add_argument("--rate", type=int, default=5000, help="flood: lines per second per front (3 fronts)")
    ap.add_argument("--master-rate", type=int, default=1000, help="flood: lines per second on the hostmaster")
    ap.add_argument("--seconds", type=float, default=10.0, help="flood: how long the fronts write")
    ap.add_argument("--batch-ms", type=float, default=20.0, help="flood: one journal insert per this many ms")
    ap.add_argument("--key-gap", type=float, default=0.4,
                    help="flood: pause before each key press, s (0: no keys, so only the first pane is ever shown)")
    ap.add_argument("--experiment", default="",
                    help="monkeypatch proposed fixes, comma-separated (bench/tui_experiments.py)")
    ap.add_argument("--host", default=os.environ.get("QM_TEST_MYSQL_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("QM_TEST_MYSQL_PORT", "3306")))
    ap.add_argument("--json", metavar="PATH", help="also write every figure and run to PATH")
    ap.add_argument("--config", help="use this qm-tui config's hostmaster instead of building one (state_dir is "
                                     "replaced by a temporary one)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    report: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": inv.machine(),
                              "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="qm-bench-tui-") as tmp_s:
        tmp = Path(tmp_s)
        if args.config:
            data = yaml.safe_load(Path(args.config).read_text())
            data["state_dir"] = str(tmp / "state")
            conf = tmp / "config.yaml"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yaml.safe_dump(data, fh)
            run_parts(report, parts, tmp, conf, args)
            return finish(report, args)
        found = inv.AdminParams.discover()
        admin = inv.AdminParams(host=args.host, port=args.port, user=found.user, password=found.password)
        t0 = time.perf_counter()
        world = inv.build_scale_world(args.sites, args.platforms, args.modules)
        prefix = f"qmt{secrets.token_hex(4)}_"
        database = f"{prefix}hostmaster"
        print(f"world: {args.sites} sites, {args.platforms} platforms ({time.perf_counter() - t0:.1f} s); "
              f"loading into {database} ...", file=sys.stderr)
        try:
            acc = inv.create_hostmaster(admin, database, world, account_prefix=prefix)
            del world
            gc.collect()
            run_parts(report, parts, tmp, inv.write_config(tmp / "config.yaml", acc.ro), args)
        finally:
            inv.drop_hostmaster(admin, database, prefix)
    return finish(report, args)


def run_parts(report: dict[str, Any], parts: set[str], tmp: Path, conf: Path, args: argparse.Namespace) -> None:
    if parts & {"startup", "filter"}:
        report["startup"] = startup(tmp, conf, args, "filter" in parts)
    if "flood" in parts:
        report["flood"] = flood(tmp, conf, tmp / "state", args)


def tree() -> str:
    """The code measured: commit and uncommitted files under qm_tui/ (read-only git calls)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=inv.ROOT, capture_output=True, text=True).stdout

    dirty = [line.split(maxsplit=1)[1] for line in git("status", "--porcelain", "--", "qm_tui").splitlines()]
    head = git("rev-parse", "--short", "HEAD").strip()
    return f"commit {head}" + (f" + uncommitted {', '.join(dirty)}" if dirty else "")


def finish(report: dict[str, Any], args: argparse.Namespace) -> int:
    report["load_1m_end"] = round(os.getloadavg()[0], 2)
    report["tree"] = tree()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    summary(report)
    return 0


def summary(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"{report['date']}  {m['cpu']} ({m['cores']} cores), Python {m['python']}; 1-min load average at start "
          f"{m['loadavg_1m']}, at end {report['load_1m_end']}; {report['tree']}")
    ok = {True: "met", False: "MISSED"}
    rows: list[tuple[str, str, str, str, str]] = []
    if "startup" in report:
        runs = report["startup"]["runs"]
        u = [r["usable_s"] for r in runs]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k.endswith("_s")}
        rows.append(("start-up to usable Sites screen", f"<= {GOAL_STARTUP_S} s",
                     f"median {med['usable_s']:.3f} s, best {min(u):.3f}, worst {max(u):.3f} (n={len(u)})",
                     ok[med["usable_s"] <= GOAL_STARTUP_S], " ".join(str(r["load_1m"]) for r in runs)))
        rows.append(("  CPU of the process until then", "", f"median {med['usable_cpu_s']:.3f} s", "", ""))
        print("start-up medians (s): " + ", ".join(f"{k[:-2]} {v:.3f}" for k, v in med.items())
              + f"; rows {runs[0]['rows']}; RSS {runs[0]['rss_mib']} MiB")
        print("start-up runs, usable (s): " + " ".join(f"{x:.3f}" for x in u))
        if report["startup"]["filter_runs"]:
            fr = report["startup"]["filter_runs"]
            ks = [k["s"] for r in fr for k in r["keys"][1:] if k["s"] is not None]
            cpu = [k["cpu"] for r in fr for k in r["keys"][1:] if k["cpu"] is not None]
            per = [(statistics.median(x), p95(x)) for x in ([k["s"] for k in r["keys"][1:]] for r in fr)]
            best = min(range(len(per)), key=lambda i: per[i][1])
            rows.append(("filter keystroke to screen (all runs)", f"<= {GOAL_KEY_S * 1000:.0f} ms",
                         f"median {statistics.median(ks) * 1000:.1f} ms, p95 {p95(ks) * 1000:.1f}, "
                         f"max {max(ks) * 1000:.1f} (n={len(ks)})", ok[p95(ks) <= GOAL_KEY_S],
                         " ".join(str(r["load_1m"]) for r in fr)))
            rows.append((f"  best run ({best + 1})", "", f"median {per[best][0] * 1000:.1f} ms, p95 "
                         f"{per[best][1] * 1000:.1f}", ok[per[best][1] <= GOAL_KEY_S], str(fr[best]["load_1m"])))
            rows.append(("  CPU per keystroke (all runs)", "", f"median {statistics.median(cpu) * 1000:.1f} ms, p95 "
                         f"{p95(cpu) * 1000:.1f}", "", ""))
            print("filter per run, median/p95 (ms): " + ", ".join(f"{a * 1000:.1f}/{b * 1000:.1f}" for a, b in per))
            print("filter keys of run 1 (ms): " + " ".join(
                f"{k['value'] or '∅'}={k['s'] * 1000:.0f}" for k in fr[0]["keys"]))
    if "flood" in report:
        f = report["flood"]
        if f["key_p95_s"] is not None:
            rows.append(("key to screen during the log flood", f"p95 < {GOAL_FLOOD_P95_S * 1000:.0f} ms",
                         f"median {f['key_median_s'] * 1000:.0f} ms, p95 {f['key_p95_s'] * 1000:.0f}, "
                         f"max {f['key_max_s'] * 1000:.0f} (n={f['keys']})",
                         ok[f["key_p95_s"] < GOAL_FLOOD_P95_S], f"{f['load_1m']}"))
            rows.append(("  CPU of the process, key to screen", "", f"median {f['key_cpu_median_s'] * 1000:.0f} ms, "
                         f"p95 {f['key_cpu_p95_s'] * 1000:.0f}", "", ""))
        bounded = max(f["held_max"], *f["panes_end"].values()) <= f["max_lines"]
        rows.append(("RSS during the flood", "bounded", f"start {f['rss_start_mib']:.0f} MiB, peak "
                     f"{f['rss_peak_mib']:.0f}, end {f['rss_end_mib']:.0f}; lines held per pane at most "
                     f"{f['held_max']} (max_lines {f['max_lines']})", ok[bounded], f"{f['load_1m']}"))
        print(f"flood{' (experiment ' + f['experiment'] + ')' if f['experiment'] else ''}: emitted "
              f"{f['emitted']} lines, {f['emitted_per_s']:.0f}/s ({f['feed_batches']} batches); screen absorbed "
              f"{f['absorbed_per_s']:.0f}/s during the feed, {f['absorbed_by_feed_end']} by its end; caught up "
              + (f"after {f['catch_up_s']:.1f} s" if f["catch_up_s"] is not None else "NOT within the limit")
              + f"; the TUI process used {f['cpu_share']:.2f} of a core during the feed")
        print(f"flood: absorbed per second {f['absorbed_per_second']}; RSS per second (MiB) "
              f"{f['rss_per_second_mib']}; lines held per pane at most {f['held_max']}; at end {f['panes_end']} "
              f"(max_lines {f['max_lines']}); lines drawn per pane {f['drawn']}")
        print(f"flood: {f['writes']} write_events calls, median {f['write_lines_median']:.0f} lines in "
              f"{f['write_s_median'] * 1000:.0f} ms (max {f['write_s_max'] * 1000:.0f} ms), "
              f"{f['write_us_per_line']:.0f} µs per line; garbage collector: {f['gc']['passes']} passes, "
              f"{f['gc']['all_s'] * 1000:.0f} ms in all, longest {f['gc']['max_s'] * 1000:.0f} ms "
              f"({f['gc']['full']} full, longest {f['gc']['full_max_s'] * 1000:.0f} ms)")
        if f["first_look_s"] is not None:
            print(f"flood: no keys during the feed; then ] (first look at {FRONTS[0]}): {f['first_look_s']:.3f} s")
        print("flood: keys (ms) " + " ".join(f"{KEY_SHOWN.get(k, k)}={round(s * 1000) if s else s}"
                                             for k, s in f["key_runs"]))
    w = [max(len(r[i]) for r in rows) for i in range(5)] if rows else []
    head = ("measurement", "goal", "measured", "verdict", "load 1m")
    w = [max(a, len(b)) for a, b in zip(w, head, strict=True)] if rows else w
    for r in [head, *rows]:
        print(" | ".join(c.ljust(n) for c, n in zip(r, w, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
