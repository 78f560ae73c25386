"""The feeder of bench_tui.py's flood: a runner's log output, written to the journal as a runner does.

    tui_feed.py STATE_DIR RUN_ID OUT.json [--rate N] [--master-rate N] [--seconds S] [--batch-ms MS]

3 fronts write ``--rate`` lines per second each and the hostmaster ``--master-rate``, for ``--seconds``,
through ``Journal.events_batch`` (the call the runner's EventHub flushes with), one transaction every
``--batch-ms``. The run must exist (bench_tui.py creates it); the feeder marks its steps started and
heartbeats. What it wrote goes to OUT.json: lines per host and per second, batches, the last event id.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qm_tui.engine.journal import Journal  # noqa: E402

MASTER, FRONTS = "aegir.scale.test", ("web1.scale.test", "web2.scale.test", "web3.scale.test")


def rate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=int, default=5000, help="lines per second per front (3 fronts)")
    p.add_argument("--master-rate", type=int, default=1000, help="lines per second on the hostmaster")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch-ms", type=float, default=20.0, help="one journal insert per this many ms")


def feed(args: argparse.Namespace) -> dict[str, Any]:
    j = Journal(Path(args.state_dir))
    rates = {MASTER: args.master_rate, **dict.fromkeys(FRONTS, args.rate)}
    sent = dict.fromkeys(rates, 0)
    seq = {MASTER: 0, FRONTS[0]: 2, FRONTS[1]: 3, FRONTS[2]: 4}
    for s in seq.values():
        j.set_step(args.run_id, s, state="started", started_at=time.time())
    per_second: list[int] = []
    batches, insert_s = 0, 0.0
    t0 = time.monotonic()
    last_beat = t0
    while True:
        now = time.monotonic()
        el = min(now - t0, args.seconds)
        rows = []
        for host, rate in rates.items():
            due = int(rate * el)
            for n in range(sent[host], due):
                stream = "stderr" if n % 50 == 49 else "stdout"
                rows.append((args.run_id, time.time(), seq[host], host, stream,
                             f"{n:07d} sending incremental file list: sites/all/modules/contrib_{n % 400:03d}/"
                             f"includes/file_{n % 97:02d}.inc  {n * 37 % 100000:>6} bytes  100%  "
                             f"{n % 90 + 10}.4MB/s"))
            sent[host] = max(sent[host], due)
        if rows:
            b0 = time.monotonic()
            j.events_batch(rows)
            insert_s += time.monotonic() - b0
            batches += 1
        sec = int(now - t0)
        while len(per_second) <= min(sec, int(args.seconds) - 1):
            per_second.append(0)
        per_second[min(sec, len(per_second) - 1)] += len(rows)
        if now - last_beat > 1.0:
            j.heartbeat(args.run_id)
            last_beat = now
        if el >= args.seconds:
            break
        time.sleep(max(0.0, args.batch_ms / 1000 - (time.monotonic() - now)))
    last_id = j.db.execute("SELECT MAX(id) FROM events WHERE run_id = ?", (args.run_id,)).fetchone()[0]
    j.close()
    return {"t0": t0, "t_end": time.monotonic(), "sent": sent, "total": sum(sent.values()),
            "per_second": per_second, "batches": batches, "insert_s": insert_s, "last_id": last_id}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("state_dir")
    ap.add_argument("run_id")
    ap.add_argument("out")
    rate_options(ap)
    args = ap.parse_args()
    Path(args.out).write_text(json.dumps(feed(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
