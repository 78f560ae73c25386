"""A keyed, read-only table that renders only the visible lines (Textual's Line API).

Why not ``DataTable`` for the site list: measured on Textual 8.2.8, ``clear()`` + ``add_row`` x 10,000
costs ~0.25 s and the following idle-time width measurement ~1.9 s (every cell goes through
``rich.measure``), all on the UI thread. Filter-as-you-type over 10,000 sites must stay under
50 ms a keystroke, so this table keeps plain row tuples, measures column widths with ``len`` once
per data load, and paints only the rows on screen. Small tables (targets, packages) use DataTable.

A keystroke repaints the whole visible table, so painting is kept cheap (bench/bench_tui.py measures
it): the widget's styles are looked up once per paint, a row's painted line is reused while the row
object, the column widths and the styles stay the same (filter results share row objects), and a
layout of the screen that changes nothing here does not repaint the scrollbar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["VColumn", "VRow", "VirtualTable"]


@dataclass(frozen=True)
class VColumn:
    key: str
    label: str
    max_width: int = 40  # natural width is capped here so one long value cannot eat the screen
    min_width: int = 4  # shrink floor when the terminal is narrow
    shrink: int = 0  # higher shrinks first when the row does not fit
    hide_below: int = 0  # left out when the table is narrower than this (least useful columns)


@dataclass(frozen=True, slots=True)
class VRow:
    key: int | str
    cells: tuple[str, ...]
    style: str = ""  # whole-row style, e.g. "dim" for deleted sites
    cell_styles: tuple[str, ...] | None = None  # per-cell, same length as cells ("" for none)


class _Paint(NamedTuple):
    base: Style
    header: Style
    sorted: Style
    cursor: Style
    marked: Style
    generation: tuple[object, ...]  # what a cached row line depends on besides the row itself


STRIP_CACHE_SIZE = 2048  # painted row lines kept (a few screens' worth); cleared when full


def _width(s: str) -> int:
    return len(s) if s.isascii() else cell_len(s)


class VirtualTable(ScrollView, can_focus=True):
    """Header line plus rows; cursor by row, ``RowSelected`` on double click or ``action_select``.

    Enter is left to the screen (bind it to an action that calls ``action_select`` or reads
    ``cursor_key``), so the screen's binding, with its id and description, is the one in the help.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"vtable--header", "vtable--cursor", "vtable--sorted", "vtable--marked"}

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        height: 1fr;
        scrollbar-gutter: stable;  /* widths must not change when the scrollbar comes and goes */
        & > .vtable--header { text-style: bold; background: $panel; }
        & > .vtable--sorted { text-style: bold underline; background: $panel; }
        & > .vtable--marked { text-style: bold; background: $accent 35%; }
        & > .vtable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .vtable--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class RowHighlighted(Message):
        def __init__(self, table: VirtualTable, key: int | str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class RowSelected(RowHighlighted):
        """Enter or double click on a row."""

    class HeaderSelected(Message):
        def __init__(self, table: VirtualTable, column_key: str) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(self, columns: Sequence[VColumn], *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[VColumn, ...] = tuple(columns)
        self.rows: list[VRow] = []
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._natural = [_width(c.label) for c in self.columns]
        self._active = list(range(len(self.columns)))  # indices of the columns shown
        self._widths = list(self._natural)  # per shown column
        self._style_cache: dict[str, Style] = {}
        self._paint: _Paint | None = None  # styles of the paint in progress (see render_lines)
        self.marked: frozenset[int | str] = frozenset()  # keys of the rows picked (space on the Sites screen)
        self._strips: dict[int, tuple[VRow, bool, Strip]] = {}  # id(row) -> (row, marked, its painted line)
        self._strips_generation: tuple[object, ...] = ()
        self._sized: tuple[Size, Size, Size] | None = None  # see _size_updated

    # --- data -------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def cursor_key(self) -> int | str | None:
        return self.rows[self.cursor_row].key if 0 <= self.cursor_row < len(self.rows) else None

    def measure(self, rows: Sequence[VRow]) -> None:
        """Fix natural column widths from ``rows`` (the unfiltered data, so filtering never jiggles)."""
        natural = [_width(c.label) + 2 for c in self.columns]  # room for the sort arrow
        for row in rows:
            for i, cell in enumerate(row.cells):
                w = _width(cell)
                if w > natural[i]:
                    natural[i] = w
        self._natural = [min(n, max(c.max_width, c.min_width)) for n, c in zip(natural, self.columns, strict=True)]
        self._fit()

    def set_rows(self, rows: Sequence[VRow], *, keep_key: int | str | None = None) -> None:
        """Replace the rows; the cursor stays on ``keep_key`` (default: the current row) if present."""
        key = self.cursor_key if keep_key is None else keep_key
        self.rows = list(rows)
        index = 0
        if key is not None:
            for i, row in enumerate(self.rows):
                if row.key == key:
                    index = i
                    break
        self._update_virtual_size()
        self.cursor_row = min(index, max(len(self.rows) - 1, 0))
        self.refresh()

    def move_to_key(self, key: int | str) -> bool:
        for i, row in enumerate(self.rows):
            if row.key == key:
                self.cursor_row = i
                return True
        return False

    def set_marked(self, keys: frozenset[int | str]) -> None:
        """Paint the rows of ``keys`` as picked (their own style; the cursor row stays bold)."""
        if keys != self.marked:
            self.marked = keys
            self.refresh()

    def set_sort_indicator(self, column: str | None, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self.refresh()

    # --- geometry ---------------------------------------------------------------------------------

    def _fit(self) -> None:
        """Drop columns too wide for this size, shrink (highest ``shrink`` first), widen the last."""
        available = max(self.scrollable_content_region.width, 1)
        self._active = [i for i, c in enumerate(self.columns) if available >= c.hide_below]
        cols = [self.columns[i] for i in self._active]
        widths = [self._natural[i] for i in self._active]
        total = sum(widths) + len(widths) - 1
        for j in sorted(range(len(widths)), key=lambda j: -cols[j].shrink):
            if total <= available:
                break
            if cols[j].shrink <= 0:
                continue
            cut = min(total - available, widths[j] - cols[j].min_width)
            if cut > 0:
                widths[j] -= cut
                total -= cut
        if total < available and widths:
            widths[-1] += available - total
        self._widths = widths
        self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(sum(self._widths) + len(self._widths) - 1, len(self.rows) + 1)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # Textual's ScrollView compares the compositor's virtual size (for a widget without children,
        # its own region) with ``self.virtual_size`` (every row): they always differ, so every layout of
        # the screen (an Input keystroke, a Static.update) repainted the scrollbar, ~3 ms of a 10,000-row
        # keystroke. Only a change of size or of our own virtual size needs it.
        seen = (size, container_size, self.virtual_size)
        if seen == self._sized:
            return False  # what ScrollView returns when neither size nor container changed
        self._sized = seen
        return super()._size_updated(size, virtual_size, container_size, layout)

    def on_resize(self, event: events.Resize) -> None:
        self._fit()
        self._scroll_cursor_visible()

    # --- rendering --------------------------------------------------------------------------------

    def _style(self, spec: str) -> Style:
        style = self._style_cache.get(spec)
        if style is None:
            style = self._style_cache[spec] = Style.parse(spec) if spec else Style()
        return style

    def _cells(self, cells: Sequence[str], base: Style, styles: Sequence[Style] | None) -> list[Segment]:
        segments: list[Segment] = []
        space = Segment(" ", base)
        for n, (i, width) in enumerate(zip(self._active, self._widths, strict=True)):
            if n:
                segments.append(space)
            cell = cells[i] if i < len(cells) else ""
            text = cell if _width(cell) <= width else set_cell_size(cell, max(width - 1, 0)) + "…"
            style = base + styles[i] if styles is not None and i < len(styles) else base
            segments.append(Segment(set_cell_size(text, width), style))
        return segments

    def render_lines(self, crop: Region) -> list[Strip]:
        # The styles are looked up once per paint, not once per line: ``rich_style`` walks every
        # ancestor's styles, which cost more than building the line itself.
        self._paint = self._paint_styles()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def _paint_styles(self) -> _Paint:
        base = self.rich_style
        paint = _Paint(base, base + self.get_component_rich_style("vtable--header", partial=True),
                       base + self.get_component_rich_style("vtable--sorted", partial=True),
                       self.get_component_rich_style("vtable--cursor", partial=True),
                       self.get_component_rich_style("vtable--marked", partial=True),
                       (tuple(self._active), tuple(self._widths), self.scroll_offset.x,
                        self.scrollable_content_region.width, base))
        if paint.generation != self._strips_generation:
            self._strips.clear()
            self._strips_generation = paint.generation
        return paint

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._paint_styles()
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = paint.base
        if y == 0:  # the header stays put while rows scroll under it
            labels, styles = [], []
            for col in self.columns:  # every column; _cells picks the shown ones
                label = col.label
                if col.key == self.sort_column:
                    label += " ▼" if self.sort_reverse else " ▲"
                labels.append(label)
                styles.append(paint.sorted if col.key == self.sort_column else paint.header)
            strip = Strip(self._cells(labels, paint.header, styles))
            return strip.crop_extend(scroll_x, scroll_x + width, paint.header)
        index = scroll_y + y - 1
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        marked = row.key in self.marked
        if index == self.cursor_row:
            style = base + self._style(row.style) + paint.cursor + (Style(bold=True) if marked else Style())
            return Strip(self._cells(row.cells, style, None)).crop_extend(scroll_x, scroll_x + width, style)
        # Rows are immutable and shared between filter results, so a line painted once is reused
        # while the geometry and styles stay the same (typing "s", "si", "sit" keeps the top rows).
        cached = self._strips.get(id(row))
        if cached is not None and cached[0] is row and cached[1] is marked:
            return cached[2]
        style = base + self._style(row.style) + (paint.marked if marked else Style())
        cell_styles = None if row.cell_styles is None or marked else [self._style(s) for s in row.cell_styles]
        strip = Strip(self._cells(row.cells, style, cell_styles)).crop_extend(scroll_x, scroll_x + width, style)
        if len(self._strips) >= STRIP_CACHE_SIZE:
            self._strips.clear()
        self._strips[id(row)] = (row, marked, strip)
        return strip

    # --- cursor -----------------------------------------------------------------------------------

    def validate_cursor_row(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_cursor_visible()
        self.refresh()
        self.post_message(self.RowHighlighted(self, self.cursor_key))

    def _scroll_cursor_visible(self) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)  # minus the header line
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.cursor_row += delta

    def action_page(self, direction: int) -> None:
        self.cursor_row += direction * max(self.scrollable_content_region.height - 2, 1)

    def action_first(self) -> None:
        self.cursor_row = 0

    def action_last(self) -> None:
        self.cursor_row = len(self.rows) - 1

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.RowSelected(self, self.cursor_key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x, y = offset.x + round(self.scroll_x), offset.y
        if y == 0:
            left = 0
            for i, width in zip(self._active, self._widths, strict=True):
                if left <= x < left + width + 1:
                    self.post_message(self.HeaderSelected(self, self.columns[i].key))
                    return
                left += width + 1
            return
        index = round(self.scroll_y) + y - 1
        if 0 <= index < len(self.rows):
            self.cursor_row = index
            if event.chain >= 2:
                self.action_select()
