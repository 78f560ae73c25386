"""A bounded log pane that draws only the lines on screen (Textual's Line API, as ``vtable.py``).

Why not ``RichLog``: it renders every line through Rich when it is written (210–415 µs a line here, so
one poll of 5,000 lines held the event loop 1–2 s) and, while its pane has never been shown, keeps
every write unrendered and unbounded. This view keeps the journal's rows as they come, in a
``deque(maxlen=max_lines)``, and turns a row into a screen line only when that line is drawn; the
few lines on screen are cached. A pane that is not shown (``live`` False) only appends to its deque;
its index (filter matches, wrapped rows) is rebuilt once when it is shown again.

A line is the event's text (``$ `` before a command), after its time when timestamps are on. Plain
printable ASCII, most of a log, becomes one Segment; anything else goes through ``Text.from_ansi``,
so the remote colours are kept. Wrapping cuts at the width in cells (not at words), which keeps the
row count of a line a division, not a Rich layout.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from operator import itemgetter

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["STREAM_STYLE", "EventRow", "LogView", "Stamp", "event_text", "local_hms"]

STREAM_STYLE = {"cmd": "bold cyan", "stderr": "yellow", "info": "italic", "stdout": ""}
STAMP_STYLE = "dim"
# Drawn lines kept (a few screens' worth; a Strip with its own caches is ~1.5 KiB), cleared when full and
# when the pane is hidden: with 1,024 per pane a 30 s flood grew the RSS by 24 MiB before they filled.
STRIP_CACHE_SIZE = 256
_STYLES = {k: Style.parse(v) if v else Style() for k, v in STREAM_STYLE.items()}
_STAMP = Style.parse(STAMP_STYLE)
_CONTROL = dict.fromkeys([*range(32), 127])  # left after Rich's decoding, they would reach the terminal raw

EventRow = tuple[int, float, int | None, str | None, str, str]  # id, ts, seq, host, stream, line
_TEXT = itemgetter(5)  # an EventRow's line
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


def _plain(line: str) -> bool:
    """One Segment is enough: no escape sequence, tab or control character, one cell a character."""
    return line.isascii() and line.isprintable()


class LogView(ScrollView, can_focus=True):
    """The last ``max_lines`` events of one host: follow, wrap, timestamps and a filter, drawn lazily.

    Follow (``auto_scroll``) keeps the view at the end while it is at the end: scrolling up reads back
    without being pulled down by new lines; scrolling to the bottom (or End) follows again.
    """

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow-y: scroll;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    def __init__(self, *, max_lines: int, stamp: Stamp = local_hms, wrap: bool = False, auto_scroll: bool = True,
                 live: bool = True, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.events: deque[EventRow] = deque(maxlen=max_lines)  # the raw rows: all a pane holds
        self.stamp = stamp
        self.auto_scroll = auto_scroll
        self._wrap = wrap
        self._timestamps = False
        self._filter = ""  # lower case; a line is shown when its text contains it
        self._live = live
        self._stale = True  # the index below does not cover every row yet (rebuilt when live)
        self._total = 0  # rows ever appended: the absolute number of the next one
        self._match: list[int] | None = None  # filter on: absolute numbers of the matching rows
        self._widest = 0  # cells of the widest line text (no prefix): the virtual width without wrap
        self._starts: list[int] | None = None  # wrap: first screen row of each shown line, then the end
        self._starts_width = 0
        self._stick = True  # at the end: new lines scroll into view (see watch_scroll_y)
        self._strips: dict[int, Strip] = {}  # absolute number -> the whole line, drawn
        self._generation: tuple[object, ...] = ()  # what a drawn line depends on besides its row
        self._base: Style | None = None  # the widget's style during a paint (see render_lines)
        self._sized: tuple[Size, Size, Size] | None = None  # see _size_updated
        self.drawn = 0  # lines turned into Strips (cache misses): for the tests and the bench

    # --- data -------------------------------------------------------------------------------------

    def append(self, rows: Sequence[EventRow]) -> None:
        """A batch of rows, oldest first. Not shown: stored only (the deque drops the oldest)."""
        if not rows:
            return
        first_before = self._first
        self.events.extend(rows)
        self._total += len(rows)
        if not self._live:
            self._stale = True
            return
        if self._stale:
            self._catch_up()
            return
        self._index(rows[-self.max_lines:], first_before)
        self._update()

    @property
    def _first(self) -> int:
        """The absolute number of the oldest row held."""
        return self._total - len(self.events)

    @property
    def line_count(self) -> int:
        """Lines in the view (every row held, or those matching the filter)."""
        if self._stale:
            self._reindex()
        return len(self.events) if self._match is None else len(self._match)

    def _shown(self) -> Iterator[tuple[int, EventRow]]:
        """(absolute number, row) of every line in the view, oldest first."""
        first = self._first
        if self._match is None:
            yield from enumerate(self.events, first)
        else:
            rows = self.events
            for a in self._match:
                yield a, rows[a - first]

    def plain_lines(self) -> list[str]:
        """The text of every line in the view, as drawn (tests and debugging: draws them all)."""
        return [self._line(a, row, self.rich_style).text for a, row in self._shown()]

    # --- view options ------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live

    @live.setter
    def live(self, live: bool) -> None:
        """Shown or not: a pane coming into view catches up with what it stored meanwhile."""
        if live != self._live:
            self._live = live
            if live:
                self._refresh_view()
            else:
                self._strips.clear()

    @property
    def wrap(self) -> bool:
        return self._wrap

    @wrap.setter
    def wrap(self, wrap: bool) -> None:
        if wrap != self._wrap:
            self._wrap = wrap
            self._refresh_view()

    @property
    def timestamps(self) -> bool:
        return self._timestamps

    @timestamps.setter
    def timestamps(self, on: bool) -> None:
        if on != self._timestamps:
            self._timestamps = on
            self._refresh_view()

    @property
    def filter(self) -> str:
        return self._filter

    @filter.setter
    def filter(self, needle: str) -> None:
        needle = needle.lower()
        if needle != self._filter:
            self._filter = needle
            self._refresh_view()

    def set_follow(self, on: bool) -> None:
        self.auto_scroll = on
        if on:
            self._stick = True  # back to the end, and stay there
            self._catch_up()

    def _refresh_view(self) -> None:
        """An option changed: rebuild the index now if shown, else when shown."""
        self._stale = True
        self._catch_up()

    def _catch_up(self) -> None:
        if self._live:
            if self._stale:
                self._reindex()
            self._update()

    # --- index: filter matches, widths, wrapped rows -----------------------------------------------

    def _prefix(self) -> int:
        """Cells before a line's text when timestamps are on (the stamp has a fixed width)."""
        return cell_len(self.stamp(self.events[0][1])) + 1 if self._timestamps and self.events else 0

    def _reindex(self) -> None:
        first, needle = self._first, self._filter
        if needle:
            self._match = [a for a, row in enumerate(self.events, first) if needle in row[5].lower()]
        else:
            self._match = None
        shown = self.events if self._match is None else (row for _a, row in self._shown())
        self._widest = max(map(len, map(_TEXT, shown)), default=0)
        self._starts = None
        self._stale = False

    def _index(self, rows: Sequence[EventRow], first_before: int) -> None:
        """Bring the index up to date with ``rows``, just appended (the oldest rows may have gone)."""
        first, start = self._first, self._total - len(rows)
        new: Iterable[tuple[int, EventRow]]
        if self._match is not None:
            gone = bisect_left(self._match, first)
            del self._match[:gone]
            needle = self._filter
            kept = [(start + i, row) for i, row in enumerate(rows) if needle in row[5].lower()]
            self._match.extend(a for a, _row in kept)
            shown: Sequence[EventRow] = [row for _a, row in kept]
            new = kept
        else:
            gone, shown, new = first - first_before, rows, enumerate(rows, start)
        if shown:
            self._widest = max(self._widest, max(map(len, map(_TEXT, shown))))
        starts = self._starts
        if starts is not None:
            del starts[:min(gone, len(starts) - 1)]  # the end of the last line gone is the new top
            self._extend_starts(starts, new, self._starts_width)

    def _extend_starts(self, starts: list[int], lines: Iterable[tuple[int, EventRow]], width: int) -> None:
        """Append the wrapped end row of each of ``lines`` (one comprehension: 5,000 lines in ~2 ms)."""
        prefix, base, line_of = self._prefix(), self._base or self.rich_style, self._line
        heights = [-(-(prefix + len(row[5]) + (2 if row[4] == "cmd" else 0)) // width) or 1
                   if row[5].isascii() and row[5].isprintable()
                   else -(-line_of(a, row, base).cell_length // width) or 1
                   for a, row in lines]
        starts.extend(accumulate(heights, initial=starts.pop()))

    def _row_starts(self, width: int) -> list[int]:
        if self._starts is None or self._starts_width != width:
            self._starts, self._starts_width = [0], width
            self._extend_starts(self._starts, self._shown(), width)
        return self._starts

    def _update(self) -> None:
        """New size for the scrollbars; scroll to the end when following; repaint."""
        width = self.scrollable_content_region.width
        if self._wrap and width > 0:
            starts = self._row_starts(width)
            self.virtual_size = Size(width, starts[-1] - starts[0])
        else:
            self.virtual_size = Size(self._widest + self._prefix() + 2, self.line_count)
        if self.auto_scroll and self._stick:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        elif self.scroll_y > self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        self.refresh()

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # As in VirtualTable: ScrollView compares the compositor's virtual size (our own region) with ours,
        # which always differ, so every layout of the screen (each status line update) repainted the
        # scrollbars. Only a change of size or of our own virtual size needs it.
        seen = (size, container_size, self.virtual_size)
        if seen == self._sized:
            return False
        self._sized = seen
        return super()._size_updated(size, virtual_size, container_size, layout)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._stick = round(new_value) >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        self._catch_up()  # wrapped rows depend on the width; the end moves with the height

    # --- drawing ----------------------------------------------------------------------------------

    def _line(self, a: int, row: EventRow, base: Style) -> Strip:
        """The whole line of row number ``a`` (cached while the options and the base style hold)."""
        generation = (self._timestamps, base)
        if generation != self._generation:
            self._strips.clear()
            self._generation = generation
        strip = self._strips.get(a)
        if strip is None:
            strip = self._draw(row, base)
            if len(self._strips) >= STRIP_CACHE_SIZE:
                self._strips.clear()
            self._strips[a] = strip
        return strip

    def _draw(self, row: EventRow, base: Style) -> Strip:
        self.drawn += 1
        segments: list[Segment] = []
        if self._timestamps:
            segments.append(Segment(self.stamp(row[1]) + " ", base + _STAMP))
        stream, line = row[4], row[5]
        if _plain(line):
            text = "$ " + line if stream == "cmd" else line
            segments.append(Segment(text, base + _STYLES.get(stream, _STYLES["stdout"])))
            return Strip(segments)
        text = event_text(stream, line)
        if "\n" in text.plain:  # a carriage return or form feed split it: one line on screen still
            text = Text(" ").join(text.split("\n"))
        text.expand_tabs(8)
        for seg in text.render(self.app.console):
            style = base + seg.style if seg.style else base
            segments.append(Segment(seg.text.translate(_CONTROL), style))
        return Strip(segments)

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style is looked up once per paint: ``rich_style`` walks every ancestor.
        self._base = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        base = self._base or self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if self._stale:
            self._reindex()  # shown before being told (a frame ahead of ``live``): draw what is held
        count = len(self.events) if self._match is None else len(self._match)
        if self._wrap and width > 0:
            starts = self._row_starts(width)
            target = starts[0] + scroll_y + y
            i = bisect_right(starts, target) - 1
            if not 0 <= i < count:
                return Strip.blank(width, base)
            a, row = self._nth(i)
            k = target - starts[i]
            return self._line(a, row, base).crop_extend(k * width, (k + 1) * width, base)
        i = scroll_y + y
        if not 0 <= i < count:
            return Strip.blank(width, base)
        a, row = self._nth(i)
        return self._line(a, row, base).crop_extend(scroll_x, scroll_x + width, base)

    def _nth(self, i: int) -> tuple[int, EventRow]:
        """(absolute number, row) of the view's line ``i``."""
        first = self._first
        a = first + i if self._match is None else self._match[i]
        return a, self.events[a - first]
