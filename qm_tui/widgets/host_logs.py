"""One bounded log pane per host (the hostmaster first): follow, wrap, timestamps and a line filter.

Lines arrive in batches (everything a journal poll found) and each pane gets one ``write`` per batch:
rendering one multi-line Text costs half as much as a write per line. The remote command is written
before its output, marked ``$``, so the operator sees exactly what ran.

Every pane also keeps its last ``max_lines`` raw events (a deque, as bounded as the RichLog). Turning
timestamps on or off, or setting a filter, re-renders the visible pane from that buffer once; the
other panes are only marked and re-render when they are shown, so a live batch never re-renders a pane.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RichLog, Static, TabbedContent, TabPane

__all__ = ["MAX_LINES", "HostLogs", "local_hms"]

MAX_LINES = 5000  # per pane, as k9s; the full log stays in the journal
STREAM_STYLE = {"cmd": "bold cyan", "stderr": "yellow", "info": "italic", "stdout": ""}
STAMP_STYLE = "dim"

EventRow = tuple[int, float, int | None, str | None, str, str]  # id, ts, seq, host, stream, line
Stamp = Callable[[float], str]


def local_hms(ts: float) -> str:
    """An event's time as HH:MM:SS in the local time zone (the operator's wall clock)."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def event_text(stream: str, line: str) -> Text:
    if stream == "cmd":
        return Text("$ " + line, style=STREAM_STYLE["cmd"])
    if stream == "stdout":
        return Text.from_ansi(line)  # keep the remote colours
    text = Text.from_ansi(line)
    text.stylize(STREAM_STYLE.get(stream, ""))
    return text


class HostLogs(Vertical):
    """An indicator line, a filter box (hidden until asked for) and a TabbedContent of RichLogs."""

    def __init__(self, hosts: Sequence[str], *, max_lines: int = MAX_LINES, stamp: Stamp = local_hms,
                 id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.hosts = list(hosts) or ["hostmaster"]
        self.max_lines = max_lines
        self.stamp = stamp  # injected by tests: a fixed time zone keeps screenshots stable
        self._pane_of = {h: f"log-{i}" for i, h in enumerate(self.hosts)}
        self.follow = True
        self.wrap = False
        self.timestamps = False
        self.filter = ""  # lower case; a line is shown when it contains it
        self.counts: dict[str, int] = dict.fromkeys(self.hosts, 0)
        self._buffer: dict[str, deque[EventRow]] = {h: deque(maxlen=max_lines) for h in self.hosts}
        self._stale: set[str] = set()  # panes to re-render from their buffer when next shown

    def compose(self) -> ComposeResult:
        yield Static("", id="log-indicator", classes="status-line")
        yield Input(placeholder="show only lines containing… (enter applies, escape clears)", id="log-filter",
                    compact=True)
        with TabbedContent(id="log-tabs"):
            for host in self.hosts:
                with TabPane(host, id=self._pane_of[host]):
                    yield RichLog(max_lines=self.max_lines, wrap=self.wrap, auto_scroll=True,
                                  id=f"{self._pane_of[host]}-view", classes="host-log")

    def on_mount(self) -> None:
        self.filter_box.display = False
        self._indicate()

    @property
    def filter_box(self) -> Input:
        return self.query_one("#log-filter", Input)

    def log_of(self, host: str) -> RichLog:
        return self.query_one(f"#{self._pane_of.get(host, self._pane_of[self.hosts[0]])}-view", RichLog)

    def write_events(self, events: Iterable[EventRow]) -> None:
        """All lines of one poll: grouped per host, then one write per pane."""
        batches: dict[str, list[EventRow]] = {}
        for row in events:
            host = row[3]
            batches.setdefault(host if host in self._pane_of else self.hosts[0], []).append(row)
        for host, rows in batches.items():
            self._buffer[host].extend(rows)
            self.counts[host] = self.counts.get(host, 0) + len(rows)
            if host in self._stale:
                continue  # it re-renders from the buffer when shown
            text = self._lines_text(rows)
            if text is not None:
                self.log_of(host).write(text)

    def _lines_text(self, rows: Iterable[EventRow]) -> Text | None:
        """The rows that pass the filter as one Text, a line each (None: nothing to show)."""
        needle = self.filter
        stamp = self.stamp if self.timestamps else None
        out = Text()
        shown = 0
        second, prefix = -1, ""
        for _id, ts, _seq, _host, stream, line in rows:
            if needle and needle not in line.lower():
                continue
            if shown:
                out.append("\n")
            shown += 1
            if stamp is not None:
                if int(ts) != second:  # a batch mostly shares a second: format it once
                    second, prefix = int(ts), stamp(ts) + " "
                out.append(prefix, STAMP_STYLE)
            out.append_text(event_text(stream, line))
        return out if shown else None

    def _rerender(self, host: str) -> None:
        """Rebuild one pane from its buffer (a toggle's cost, never a live batch's)."""
        self._stale.discard(host)
        log = self.log_of(host)
        log.clear()
        text = self._lines_text(self._buffer[host])
        if text is not None:
            log.write(text)

    def _refilter(self) -> None:
        """The view changed (timestamps or filter): the visible pane now, the others when shown."""
        active = self.active_host
        self._stale.update(h for h in self.hosts if h != active)
        self._rerender(active)
        self._indicate()

    @property
    def active_host(self) -> str:
        active = self.query_one("#log-tabs", TabbedContent).active
        for host, pane in self._pane_of.items():
            if pane == active:
                return host
        return self.hosts[0]

    def show_host(self, host: str) -> None:
        if host in self._pane_of:
            self.query_one("#log-tabs", TabbedContent).active = self._pane_of[host]
            self._shown()

    def cycle(self, delta: int) -> None:
        i = self.hosts.index(self.active_host)
        self.show_host(self.hosts[(i + delta) % len(self.hosts)])

    def toggle_follow(self) -> None:
        self.follow = not self.follow
        for log in self.query(RichLog):
            log.auto_scroll = self.follow
            if self.follow:
                log.scroll_end(animate=False)
        self._indicate()

    def toggle_wrap(self) -> None:
        """Applies to lines written from now on (RichLog renders a line once, when written)."""
        self.wrap = not self.wrap
        for log in self.query(RichLog):
            log.wrap = self.wrap
        self._indicate()

    def toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._refilter()

    def set_filter(self, text: str) -> None:
        needle = text.strip().lower()
        if needle != self.filter:
            self.filter = needle
            self._refilter()

    def open_filter(self) -> None:
        box = self.filter_box
        box.value = self.filter
        box.display = True
        box.focus()

    def close_filter(self) -> None:
        """Clear the filter and hide its box (escape while the box is shown)."""
        box = self.filter_box
        box.value = ""
        box.display = False
        self.set_filter("")
        self.log_of(self.active_host).focus()

    @property
    def filter_open(self) -> bool:
        return bool(self.filter_box.display)

    @on(Input.Submitted, "#log-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        if not self.filter:
            self.filter_box.display = False
        self.log_of(self.active_host).focus()

    def on_tabbed_content_tab_activated(self) -> None:
        self._shown()

    def _shown(self) -> None:
        if self.active_host in self._stale:
            self._rerender(self.active_host)
        self._indicate()

    def _indicate(self) -> None:
        on = {True: "On", False: "Off"}
        shown = f" · filter “{self.filter}”" if self.filter else ""
        self.query_one("#log-indicator", Static).update(Text(  # not markup: the filter is typed text
            f"Follow:{on[self.follow]} Wrap:{on[self.wrap]} Time:{on[self.timestamps]}{shown} · "
            f"last {self.max_lines} lines per host · f follow · w wrap · t time · / filter · [ ] host"))
