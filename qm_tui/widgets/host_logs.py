"""One bounded log pane per host (the hostmaster first): follow, wrap, timestamps and a line filter.

Each pane is a ``LogView`` (``log_view.py``): the last ``max_lines`` raw events of its host in a deque,
drawn only when on screen. A journal poll's lines are grouped per host and appended once per pane; the
pane not shown stores them and nothing more. The remote command is written before its output, marked
``$``, so the operator sees exactly what ran. Toggles and the filter apply to every pane: the shown one
re-indexes at once, the others when they are shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static, TabbedContent, TabPane

from .log_view import EventRow, LogView, Stamp, local_hms

__all__ = ["MAX_LINES", "EventRow", "HostLogs", "Stamp", "local_hms"]

MAX_LINES = 5000  # per pane, as k9s; the full log stays in the journal


class HostLogs(Vertical):
    """An indicator line, a filter box (hidden until asked for) and a TabbedContent of LogViews."""

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

    def compose(self) -> ComposeResult:
        yield Static("", id="log-indicator", classes="status-line")
        yield Input(placeholder="show only lines containing… (enter applies, escape clears)", id="log-filter",
                    compact=True)
        with TabbedContent(id="log-tabs"):
            for i, host in enumerate(self.hosts):
                with TabPane(host, id=self._pane_of[host]):
                    # Only the first tab is shown at first: the others store their lines until shown.
                    yield LogView(max_lines=self.max_lines, stamp=self.stamp, wrap=self.wrap,
                                  auto_scroll=self.follow, live=i == 0, id=f"{self._pane_of[host]}-view",
                                  classes="host-log")

    def on_mount(self) -> None:
        self.filter_box.display = False
        self._indicate()

    @property
    def filter_box(self) -> Input:
        return self.query_one("#log-filter", Input)

    @property
    def views(self) -> list[LogView]:
        return list(self.query(LogView))

    def log_of(self, host: str) -> LogView:
        return self.query_one(f"#{self._pane_of.get(host, self._pane_of[self.hosts[0]])}-view", LogView)

    def write_events(self, events: Iterable[EventRow]) -> None:
        """All lines of one poll: grouped per host, then one append per pane."""
        batches: dict[str, list[EventRow]] = {}
        for row in events:
            host = row[3]
            batches.setdefault(host if host in self._pane_of else self.hosts[0], []).append(row)
        for host, rows in batches.items():
            self.counts[host] = self.counts.get(host, 0) + len(rows)
            self.log_of(host).append(rows)

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
        for view in self.views:
            view.set_follow(self.follow)
        self._indicate()

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        for view in self.views:
            view.wrap = self.wrap
        self._indicate()

    def toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        for view in self.views:
            view.timestamps = self.timestamps
        self._indicate()

    def set_filter(self, text: str) -> None:
        needle = text.strip().lower()
        if needle != self.filter:
            self.filter = needle
            for view in self.views:
                view.filter = needle
            self._indicate()

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
        """The shown pane catches up with what it stored; the others go back to storing only."""
        active = self.log_of(self.active_host)
        for view in self.views:
            view.live = view is active
        self._indicate()

    def _indicate(self) -> None:
        on = {True: "On", False: "Off"}
        shown = f" · filter “{self.filter}”" if self.filter else ""
        self.query_one("#log-indicator", Static).update(Text(  # not markup: the filter is typed text
            f"Follow:{on[self.follow]} Wrap:{on[self.wrap]} Time:{on[self.timestamps]}{shown} · "
            f"last {self.max_lines} lines per host · f follow · w wrap · t time · / filter · [ ] host"))
