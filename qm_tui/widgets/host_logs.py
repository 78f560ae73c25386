"""One bounded log pane per host (the hostmaster first), with follow and wrap toggles.

Lines arrive in batches (everything a journal poll found) and are written per pane in one go. The
remote command is written before its output, marked ``$``, so the operator sees exactly what ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog, Static, TabbedContent, TabPane

__all__ = ["MAX_LINES", "HostLogs"]

MAX_LINES = 5000  # per pane, as k9s; the full log stays in the journal
STREAM_STYLE = {"cmd": "bold cyan", "stderr": "yellow", "info": "italic", "stdout": ""}

EventRow = tuple[int, float, int | None, str | None, str, str]


def event_text(stream: str, line: str) -> Text:
    if stream == "cmd":
        return Text("$ " + line, style=STREAM_STYLE["cmd"])
    if stream == "stdout":
        return Text.from_ansi(line)  # keep the remote colours
    text = Text.from_ansi(line)
    text.stylize(STREAM_STYLE.get(stream, ""))
    return text


class HostLogs(Vertical):
    """A TabbedContent of RichLogs plus an indicator line for the visible pane."""

    def __init__(self, hosts: Sequence[str], *, max_lines: int = MAX_LINES, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.hosts = list(hosts) or ["hostmaster"]
        self.max_lines = max_lines
        self._pane_of = {h: f"log-{i}" for i, h in enumerate(self.hosts)}
        self.follow = True
        self.wrap = False
        self.counts: dict[str, int] = dict.fromkeys(self.hosts, 0)

    def compose(self) -> ComposeResult:
        yield Static("", id="log-indicator", classes="status-line")
        with TabbedContent(id="log-tabs"):
            for host in self.hosts:
                with TabPane(host, id=self._pane_of[host]):
                    yield RichLog(max_lines=self.max_lines, wrap=self.wrap, auto_scroll=True,
                                  id=f"{self._pane_of[host]}-view", classes="host-log")

    def on_mount(self) -> None:
        self._indicate()

    def log_of(self, host: str) -> RichLog:
        return self.query_one(f"#{self._pane_of.get(host, self._pane_of[self.hosts[0]])}-view", RichLog)

    def write_events(self, events: Iterable[EventRow]) -> None:
        """All lines of one poll: grouped per host, written pane by pane."""
        batches: dict[str, list[Text]] = {}
        for _id, _ts, _seq, host, stream, line in events:
            target = host if host in self._pane_of else self.hosts[0]
            batches.setdefault(target, []).append(event_text(stream, line))
        for host, lines in batches.items():
            log = self.log_of(host)
            for text in lines:
                log.write(text)
            self.counts[host] = self.counts.get(host, 0) + len(lines)

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
            self._indicate()

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

    def on_tabbed_content_tab_activated(self) -> None:
        self._indicate()

    def _indicate(self) -> None:
        on = {True: "On", False: "Off"}
        self.query_one("#log-indicator", Static).update(
            f"Follow:{on[self.follow]} Wrap:{on[self.wrap]} · last {self.max_lines} lines per host · "
            "f follow · w wrap · [ ] host")
