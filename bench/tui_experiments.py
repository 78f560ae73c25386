"""Proposed fixes for the Run screen's log panes, applied by monkeypatching (``bench_tui.py --experiment``).

Experiments measure a change before anyone makes it; nothing here is shipped code. Names (comma-separated):

* ``logview``: every pane's RichLog becomes ``LogView``, a Line-API pane (like the Sites table's
  VirtualTable): raw ``(line, style)`` tuples in a ``deque(maxlen=max_lines)``, appended in O(1) per
  line, rendered only when on screen (a hidden pane costs the append, nothing else). HostLogs'
  ``write_events`` hands it the raw lines (no ``Text`` per line) unless a filter or timestamps are on;
  everything else in HostLogs runs unchanged (``host_logs.RichLog`` is rebound to ``LogView``).
* ``gcfreeze``: ``gc.freeze()`` once the Sites screen has built its rows: the 10,000 sites and their rows
  live as long as the app, and every full collection walked them (the longest pauses of a log flood).
* ``gcthreshold``: ``gc.set_threshold(20_000, 20, 20)``: young collections every 20,000 allocations instead
  of 700 (a flood allocates a few hundred thousand tuples a second).
* ``poll``: the Run screen polls again at once (no 0.3 s sleep) while a poll comes back full (5,000
  events, the journal read's limit); otherwise it cannot read more than ~16,000 lines/s.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from qm_tui.screens import run as run_module
from qm_tui.widgets import host_logs
from qm_tui.widgets.host_logs import STREAM_STYLE, HostLogs, event_text

Item = tuple[str, str] | Text  # a raw line and its style, or a rendered Text line (from write())


class LogView(ScrollView, can_focus=True):
    """A bounded log: raw lines in a deque, only the visible ones rendered (wrap: by cells, not words).

    RichLog's API as HostLogs uses it: ``write``, ``clear``, ``lines``, ``wrap``, ``auto_scroll``."""

    DEFAULT_CSS = "LogView { background: $surface; color: $foreground; overflow-y: scroll; }"

    def __init__(self, *, max_lines: int | None = None, wrap: bool = False, auto_scroll: bool = True,
                 id: str | None = None, classes: str | None = None, **_: Any) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.max_lines, self._wrap, self.auto_scroll = max_lines, wrap, auto_scroll
        self.lines: deque[Item] = deque(maxlen=max_lines)
        self._widest = 0
        self._starts: list[int] | None = None  # wrap: first screen row of each line, rebuilt lazily
        self._styles: dict[str, Style] = {}
        self._rendered: LRUCache[int, tuple[Item, list[Segment]]] = LRUCache(512)  # id -> (item, segments)

    @property
    def wrap(self) -> bool:
        return self._wrap

    @wrap.setter
    def wrap(self, wrap: bool) -> None:
        self._wrap, self._starts = wrap, None
        if self.is_mounted:
            self._resize()
            self.refresh()

    def append(self, items: list[Item]) -> None:
        if not items:
            return
        self.lines.extend(items)
        self._widest = max(self._widest, max(len(i[0]) if isinstance(i, tuple) else i.cell_len for i in items))
        self._starts = None
        self._resize()
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def write(self, content: Any, *_a: Any, **_k: Any) -> LogView:
        text = content if isinstance(content, Text) else Text(str(content))
        self.append(list(text.split("\n")))
        return self

    def clear(self) -> LogView:
        self.lines.clear()
        self._widest, self._starts = 0, None
        self._resize()
        self.refresh()
        return self

    def _plain(self, item: Item) -> str:
        return item[0] if isinstance(item, tuple) else item.plain

    def _row_starts(self) -> list[int]:
        if self._starts is None:
            width, acc, starts = max(self.scrollable_content_region.width, 1), 0, []
            for item in self.lines:
                starts.append(acc)
                acc += max(1, -(-len(self._plain(item)) // width))
            starts.append(acc)
            self._starts = starts
        return self._starts

    def _resize(self) -> None:
        if self._wrap:
            self.virtual_size = Size(self.scrollable_content_region.width, self._row_starts()[-1])
        else:
            self.virtual_size = Size(self._widest, len(self.lines))

    def on_resize(self, event: events.Resize) -> None:
        self._starts = None
        self._resize()

    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec) if spec else Style()
        return style

    def _segments(self, item: Item, base: Style) -> list[Segment]:
        if isinstance(item, tuple) and "\x1b" not in item[0]:
            return [Segment(item[0], base + self._style(item[1]))]
        hit = self._rendered.get(id(item))
        if hit is not None and hit[0] is item:
            segs = hit[1]
        else:
            text = item if isinstance(item, Text) else event_text("stdout", item[0])
            if isinstance(item, tuple):
                text.stylize(item[1])
            segs = [s for s in text.render(self.app.console) if s.text != "\n"]
            self._rendered[id(item)] = (item, segs)
        return [Segment(s.text, base + s.style if s.style else base) for s in segs]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        row = scroll_y + y
        if self._wrap:
            starts = self._row_starts()
            i = bisect_right(starts, row) - 1
            if not 0 <= i < len(self.lines):
                return Strip.blank(width, base)
            item, k = self.lines[i], row - starts[i]
            strip = Strip(self._segments(item, base)).crop(k * width, (k + 1) * width)
            return strip.extend_cell_length(width, base)
        if row >= len(self.lines):
            return Strip.blank(width, base)
        return Strip(self._segments(self.lines[row], base)).crop_extend(scroll_x, scroll_x + width, base)


_orig_write_events = HostLogs.write_events


def _lv_write_events(self: HostLogs, rows: Iterable[Any]) -> None:
    """Raw lines to the panes; the shipped path (Text per line) only while a filter or timestamps are on."""
    if getattr(self, "filter", "") or getattr(self, "timestamps", False):
        return _orig_write_events(self, rows)
    batches: dict[str, list[Any]] = {}
    for row in rows:
        host = row[3]
        batches.setdefault(host if host in self._pane_of else self.hosts[0], []).append(row)
    buffers, stale = getattr(self, "_buffer", None), getattr(self, "_stale", set())
    for host, got in batches.items():
        if buffers is not None:
            buffers[host].extend(got)
        self.counts[host] = self.counts.get(host, 0) + len(got)
        if host not in stale:
            self.log_of(host).append([("$ " + r[5] if r[4] == "cmd" else r[5], STREAM_STYLE.get(r[4], ""))
                                      for r in got[-self.max_lines:]])
    return None


def _poll_patch() -> None:
    orig_read = run_module.RunScreen._read

    def _read(self: Any) -> Any:
        msg = orig_read(self)
        self._bench_full = len(msg.events) >= 5000
        return msg

    @work(exclusive=True, group="follow", exit_on_error=False, description="follow the run")
    async def follow(self: Any) -> None:
        while True:
            await self.poll()
            if getattr(self, "_bench_full", False):
                await asyncio.sleep(0)
                continue
            live = self.run_state in (None, "running") or self._pending
            await asyncio.sleep(self.poll_seconds if live else max(self.poll_seconds, run_module.IDLE_POLL_SECONDS))

    run_module.RunScreen._read = _read
    run_module.RunScreen.follow = follow


def _gcfreeze_patch() -> None:
    import gc

    from qm_tui.screens.sites import SitesScreen

    orig = SitesScreen._fill_platforms  # called once per load, after the rows are built (the @on
    # handler itself cannot be patched: Textual keeps the function it was given)

    def _fill_platforms(self: Any, inv: Any) -> None:
        orig(self, inv)
        gc.collect()
        gc.freeze()

    SitesScreen._fill_platforms = _fill_platforms


def apply(names: str) -> None:
    import gc

    for name in names.split(","):
        if name == "gcfreeze":
            _gcfreeze_patch()
        elif name == "gcthreshold":
            gc.set_threshold(20_000, 20, 20)
            continue
        elif name == "logview":
            host_logs.RichLog = LogView  # compose, log_of and the toggles look the name up when called
            HostLogs.write_events = _lv_write_events
        elif name == "poll":
            _poll_patch()
        elif name:
            raise SystemExit(f"unknown experiment {name!r} (logview, poll, gcfreeze, gcthreshold)")
