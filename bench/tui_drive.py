"""The child processes of bench/bench_tui.py (one fresh interpreter per measurement).

    tui_drive.py sites CONFIG OUT.json [--size WxH] [--no-filter]
        qm-tui itself (``qm_tui.cli.main``), its App.run made headless: time to the first frame that
        shows the site rows, then to the frame after a key; then filter keystrokes, each timed from the
        moment the key is sent to the first frame showing its result.
    tui_drive.py run CONFIG RUN_ID OUT.json [options]
        the same app, Run screen attached to RUN_ID; starts the feeder, presses keys, samples RSS.
        (the feeder is bench/tui_feed.py, a process of its own, as the runner is)

Keys are sent from a separate thread, as a terminal's input thread does: a key typed while the event
loop is busy waits for it, and that wait is part of the latency. A "frame" is one compositor update of
the current screen; in a real terminal it is turned into escape sequences and written to the tty, and
that conversion is done here too (``render_segments``; headless Textual skips it), its output dropped.
"""

from __future__ import annotations

import time

T_MAIN = time.monotonic()  # before any import: the interpreter start is the parent's T0 .. this

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tui_feed  # noqa: E402  (bench/ is sys.path[0])

# The filter keystrokes (after "/"): broad, narrow, widen with backspaces down to the empty filter (all
# 10,000 rows again), "scale" (every row matches), "min" (a third). 33 keys, 15 of them backspaces.
FILTER_KEYS = ([*"site0", "4", "2", "backspace", "backspace", "9", "9", "9"] + ["backspace"] * 8
               + [*"scale"] + ["backspace"] * 5 + [*"min"])


def rss_kib() -> tuple[int, int]:
    """VmRSS and VmHWM (peak) of this process, KiB."""
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            got[line.split(":")[0]] = int(line.split()[1])
    return got["VmRSS"], got["VmHWM"]


class Frames:
    """Wraps ``app._display``: counts frames, emulates the tty write, wakes key waiters."""

    def __init__(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        self.app, self.count, self.bytes = app, 0, 0
        self.watchers: list[tuple[Callable[[], bool], threading.Event, list[float]]] = []
        self.lock = threading.Lock()
        orig = app._display

        def display(screen: Any, renderable: Any) -> None:
            orig(screen, renderable)
            if renderable is None or app._batch_count:
                return
            if app.is_headless and isinstance(renderable, CompositorUpdate):
                self.bytes += len(renderable.render_segments(app.console))
            self.count += 1
            now, cpu = time.monotonic(), time.process_time()
            with self.lock:
                for w in [w for w in self.watchers if w[0]()]:
                    w[2].extend((now, cpu))
                    w[1].set()
                    self.watchers.remove(w)

        app._display = display

    def watch(self, pred: Callable[[], bool]) -> tuple[threading.Event, list[float]]:
        """The first frame (from now on) drawn while ``pred()`` holds; sets the event."""
        ev, at = threading.Event(), []
        with self.lock:
            self.watchers.append((pred, ev, at))
        return ev, at

    def key(self, key: str, pred: Callable[[], bool], timeout: float = 60.0) -> tuple[float | None, float | None]:
        """From a thread: send ``key`` as the terminal would; wall and CPU (this process) seconds until
        a frame shows ``pred``. The CPU time does not grow when other processes hold the cores."""
        from textual import events

        ev, at = self.watch(pred)
        char = {"backspace": None, "slash": "/", "down": None, "left_square_bracket": "[",
                "right_square_bracket": "]"}.get(key, key)
        c0, t0 = time.process_time(), time.monotonic()
        self.app._driver.send_message(events.Key(key, char))
        return (at[0] - t0, at[1] - c0) if ev.wait(timeout) else (None, None)


class GcPauses:
    """Durations of the garbage collector's passes (they stop the event loop like any other work)."""

    def __init__(self) -> None:
        import gc

        self.passes: list[tuple[int, float]] = []
        self._t = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.monotonic()
        else:
            self.passes.append((info["generation"], time.monotonic() - self._t))

    def summary(self) -> dict[str, Any]:
        full = [d for g, d in self.passes if g == 2]
        return {"passes": len(self.passes), "full": len(full), "full_max_s": max(full, default=0.0),
                "all_s": sum(d for _g, d in self.passes), "max_s": max((d for _g, d in self.passes), default=0.0)}


def headless_main(config: str, size: tuple[int, int], pilot_fn: Callable[[Any], Any]) -> int:
    """Run ``qm-tui --config CONFIG`` as a user would, with App.run made headless."""
    from qm_tui import cli
    from qm_tui.app import QmApp

    orig_run = QmApp.run

    def run(self: Any, **_kw: Any) -> Any:
        return orig_run(self, headless=True, size=size, auto_pilot=pilot_fn)

    QmApp.run = run  # type: ignore[method-assign]
    return cli.main(["--config", config])


def _thread(fn: Callable[[], Any]) -> asyncio.Future[Any]:
    return asyncio.get_running_loop().run_in_executor(None, fn)


async def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# --- sites: start-up and filter keystrokes -------------------------------------------------------

def sites(args: argparse.Namespace) -> dict[str, Any]:
    from qm_tui.engine import service
    from qm_tui.screens.sites import SitesScreen

    res: dict[str, Any] = {"t_main": T_MAIN}
    gc_start = GcPauses()  # collections from here (imports done) until the table is usable
    orig_load = service.load

    async def load(*a: Any, **kw: Any) -> Any:  # timed, otherwise the same call
        res["t_load_start"] = time.monotonic()
        try:
            return await orig_load(*a, **kw)
        finally:
            res["t_load_end"] = time.monotonic()

    service.load = load

    async def pilot_fn(pilot: Any) -> None:
        app = pilot.app
        try:
            frames: Frames = app._bench_frames
            ev, at = frames.watch(lambda: isinstance(app.screen, SitesScreen) and app.screen.loaded
                                  and app.screen.table.row_count > 0)
            await _thread(lambda: ev.wait(120))
            screen = app.screen
            res["t_rows_frame"], res["cpu_rows_frame"], res["rows"] = at[0], at[1], screen.table.row_count
            # The usable check: a key sent the moment the rows are on screen moves the cursor.
            res["key_s"], key_cpu = await _thread(lambda: frames.key("down", lambda: screen.table.cursor_row == 1))
            res["t_key_frame"] = res["t_rows_frame"] + (res["key_s"] or 0)
            res["cpu_key_frame"] = res["cpu_rows_frame"] + (key_cpu or 0)  # CPU since the process started
            res["rss_kib"] = rss_kib()[0]
            res["startup_gc"] = gc_start.summary()
            if args.filter:
                gcp = GcPauses()
                res["filter"] = await _thread(lambda: type_filter(app, frames, screen))
                res["filter_gc"] = gcp.summary()
            res["frames"], res["frame_bytes"] = frames.count, frames.bytes
        except BaseException:
            res["error"] = traceback.format_exc()
        app.exit(0)

    from qm_tui.app import QmApp

    orig_init = QmApp.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        orig_init(self, *a, **kw)
        res["t_app"] = time.monotonic()
        self._bench_frames = Frames(self)
        first = self._bench_frames.watch(lambda: True)
        res["_first"] = first[1]

    QmApp.__init__ = init  # type: ignore[method-assign]
    res["t_imported"] = time.monotonic()
    headless_main(args.config, args.size, pilot_fn)
    first = res.pop("_first")
    res["t_first_frame"] = first[0] if first else None
    return res


def type_filter(app: Any, frames: Frames, screen: Any) -> list[dict[str, Any]]:
    """In a thread: "/" then FILTER_KEYS, each timed to the frame with the new rows on screen."""
    from textual.widgets import Input

    box = screen.query_one("#sites-filter", Input)
    s, cpu = frames.key("slash", lambda: box.display and app.focused is box)
    out = [{"key": "/", "value": "", "s": s, "cpu": cpu}]
    value = ""
    for key in FILTER_KEYS:
        time.sleep(0.08)  # a fast typist: ~12 keys a second
        value = value[:-1] if key == "backspace" else value + key
        prev = screen.table.rows
        want = value

        def shown(want: str = want, prev: Any = prev) -> bool:
            return box.value == want and screen.table.rows is not prev

        s, cpu = frames.key(key, shown)
        out.append({"key": key, "value": value, "rows": screen.table.row_count, "s": s, "cpu": cpu})
    return out


# --- run: the Run screen under a log flood -------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    import subprocess

    from qm_tui.screens.messages import OpenRun
    from qm_tui.screens.run import RunScreen
    from qm_tui.screens.sites import SitesScreen
    from qm_tui.widgets import host_logs

    res: dict[str, Any] = {"experiment": args.experiment, "writes": []}
    orig_write = host_logs.HostLogs.write_events

    def write_events(self: Any, events: Any) -> None:  # timed, otherwise the same call
        events = list(events)
        t0 = time.monotonic()
        orig_write(self, events)
        res["writes"].append((t0, len(events), time.monotonic() - t0))

    host_logs.HostLogs.write_events = write_events  # type: ignore[method-assign]

    async def pilot_fn(pilot: Any) -> None:
        app = pilot.app
        try:
            await flood(app)
        except BaseException:
            res["error"] = traceback.format_exc()
        app.exit(0)

    async def flood(app: Any) -> None:
        frames = Frames(app)
        await _until(lambda: isinstance(app.screen, SitesScreen) and app.screen.loaded, 120, "the sites")
        res["sites"] = app.screen.table.row_count
        app.post_message(OpenRun(args.run_id))
        await _until(lambda: isinstance(app.screen, RunScreen) and app.screen.logs is not None, 60, "the run")
        screen = app.screen
        logs = screen.logs
        await asyncio.sleep(0.5)
        res["rss_start_kib"] = rss_kib()[0]
        samples: list[dict[str, Any]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                rss, hwm = rss_kib()
                panes = {h: len(logs.log_of(h).events) for h in logs.hosts}  # rows each pane holds
                samples.append({"t": time.monotonic(), "cpu": time.process_time(), "rss_kib": rss, "hwm_kib": hwm,
                                "counts": dict(logs.counts), "panes": panes, "last_event": screen.last_event})

        sampler = threading.Thread(target=sample, daemon=True)
        gcp = GcPauses()
        feed_out = Path(args.out).with_suffix(".feed.json")
        cmd = [sys.executable, str(Path(__file__).with_name("tui_feed.py")), args.state_dir, args.run_id, str(feed_out),
               "--rate", str(args.rate), "--master-rate", str(args.master_rate), "--seconds", str(args.seconds),
               "--batch-ms", str(args.batch_ms)]
        res["t_feed_spawn"] = time.monotonic()
        sampler.start()
        feeder = subprocess.Popen(cmd)
        res["keys"] = await _thread(lambda: press_keys(frames, logs, args.seconds + 1.0, args.key_gap))
        await _thread(feeder.wait)
        feed = json.loads(feed_out.read_text())
        res["feed"] = feed
        t_end = time.monotonic()
        try:  # how long until the screen has read every line the feeder wrote
            await _until(lambda: screen.last_event >= feed["last_id"], args.catch_up, "catch-up")
            res["catch_up_s"] = time.monotonic() - t_end
        except TimeoutError:
            res["catch_up_s"] = None
        res["gc"] = gcp.summary()
        res["last_event_at_end"] = screen.last_event
        if args.key_gap <= 0:  # the first look at a front's pane, after the whole run went to it unseen
            view = logs.log_of(logs.hosts[1])

            def filled() -> bool:  # the pane is shown with its lines drawn, not merely switched to
                return view.live and view.drawn > 0

            res["first_look_s"] = (await _thread(lambda: frames.key("right_square_bracket", filled)))[0]
        stop.set()
        sampler.join()
        res["samples"] = samples
        res["rss_end_kib"], res["hwm_kib"] = rss_kib()
        res["panes_end"] = {h: len(logs.log_of(h).events) for h in logs.hosts}
        res["drawn"] = {h: logs.log_of(h).drawn for h in logs.hosts}  # lines turned into Strips, in all
        res["max_lines"] = logs.max_lines
        res["frames"] = frames.count

    headless_main(args.config, args.size, pilot_fn)
    return res


def press_keys(frames: Frames, logs: Any, seconds: float, gap: float) -> list[dict[str, Any]]:
    """In a thread: ] ] w [ w ... for ``seconds``, each timed to the frame that shows it."""
    from textual.widgets import ContentSwitcher

    switcher = logs.query_one("#log-tabs").query_one(ContentSwitcher)
    hosts, pane = list(logs.hosts), 0
    wrap = logs.wrap
    seq = ["right_square_bracket", "w", "right_square_bracket", "left_square_bracket", "w",
           "right_square_bracket", "right_square_bracket"]
    out: list[dict[str, Any]] = []
    end = time.monotonic() + seconds
    if gap <= 0:  # no keys: the hostmaster pane stays the only one ever shown
        time.sleep(seconds)
        return out
    i = 0
    while time.monotonic() < end:
        time.sleep(gap)
        key = seq[i % len(seq)]
        i += 1
        if key == "w":
            wrap = not wrap
            want = wrap
            s, cpu = frames.key(key, lambda want=want: logs.wrap == want)
        else:
            pane = (pane + (1 if key == "right_square_bracket" else -1)) % len(hosts)
            target = logs._pane_of[hosts[pane]]
            s, cpu = frames.key(key, lambda target=target: switcher.current == target)
        out.append({"t": time.monotonic(), "key": key, "s": s, "cpu": cpu})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    for name in ("sites", "run"):
        p = sub.add_parser(name)
        p.add_argument("config")
        if name == "run":
            p.add_argument("run_id")
        p.add_argument("out")
        p.add_argument("--size", type=lambda s: tuple(int(x) for x in s.split("x")), default=(120, 36))
    sub.choices["sites"].add_argument("--no-filter", dest="filter", action="store_false")
    r = sub.choices["run"]
    tui_feed.rate_options(r)
    r.add_argument("--state-dir", required=True)
    r.add_argument("--key-gap", type=float, default=0.4, help="pause before each key, s")
    r.add_argument("--catch-up", type=float, default=60.0, help="wait at most this long for the backlog, s")
    for p in (sub.choices["sites"], r):
        p.add_argument("--experiment", default="", help="monkeypatch a proposed fix (see tui_experiments.py)")
    args = ap.parse_args()
    if getattr(args, "experiment", ""):
        import tui_experiments

        tui_experiments.apply(args.experiment)
    res = {"sites": sites, "run": run}[args.mode](args)
    Path(args.out).write_text(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
