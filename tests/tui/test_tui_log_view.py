"""The log pane (qm_tui/widgets/log_view.py): bounded, drawn only on screen, follow, wrap, timestamps,
filter and the remote colours. What the terminal shows is read through the Line API (``render_line``),
the calls the compositor makes."""

from __future__ import annotations

import time

from rich.color import Color
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from qm_tui.widgets.log_view import EventRow, LogView

T0 = 1_700_000_000.0
SIZE = (60, 12)  # the view fills the screen: 58 columns beside the scrollbar


def utc_hms(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def rows(start: int, n: int, text: str = "line {}", stream: str = "stdout") -> list[EventRow]:
    return [(i, T0 + i, 0, "h", stream, text.format(i)) for i in range(start, start + n)]


def on_screen(view: LogView) -> list[str]:
    """The rows of the view as drawn, trailing blanks dropped."""
    drawn = [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)]
    while drawn and not drawn[-1]:
        drawn.pop()
    return drawn


class ViewApp(App[None]):
    def __init__(self, max_lines: int = 1000, live: bool = True) -> None:
        super().__init__()
        self.max_lines, self.live = max_lines, live

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines, stamp=utc_hms, live=self.live, id="view")


def view_of(pilot: Pilot) -> LogView:
    return pilot.app.query_one(LogView)


async def test_holds_only_the_last_max_lines() -> None:
    async with ViewApp(max_lines=50).run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        for start in (0, 50, 100):  # 3 × max_lines, in batches
            view.append(rows(start, 50))
        assert len(view.events) == view.line_count == 50
        assert view.events[0][5] == "line 100" and view.plain_lines()[-1] == "line 149"
        view.append(rows(150, 150))  # one batch of 3 × max_lines
        assert len(view.events) == 50 and view.plain_lines() == [f"line {i}" for i in range(250, 300)]
        view.filter = "7"  # the filter shows matches among the rows held, so it is bounded as well
        view.append(rows(300, 150))
        assert view.plain_lines() == [f"line {i}" for i in range(400, 450) if "7" in str(i)]
        await pilot.pause()
        assert on_screen(view)[-1] == "line 447"


async def test_draws_only_the_lines_on_screen() -> None:
    async with ViewApp().run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        height = view.scrollable_content_region.height
        view.append(rows(0, 1000))
        await pilot.pause()
        assert on_screen(view)[-1] == "line 999"  # following the end
        assert 0 < view.drawn <= height  # of 1,000 lines, those on screen
        drawn = view.drawn
        view.append(rows(1000, 1))
        await pilot.pause()
        assert on_screen(view)[-1] == "line 1000"
        assert view.drawn - drawn <= 2  # the new line (the others are cached)


async def test_a_hidden_pane_stores_and_draws_nothing_until_shown() -> None:
    async with ViewApp(max_lines=500, live=False).run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        for start in range(0, 1500, 100):
            view.append(rows(start, 100))
        await pilot.pause()
        assert view.drawn == 0 and len(view.events) == 500
        view.live = True
        await pilot.pause()
        assert on_screen(view)[-1] == "line 1499"
        assert view.drawn <= view.scrollable_content_region.height


async def test_follow_keeps_the_end_in_view_only_from_the_end() -> None:
    async with ViewApp().run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        view.focus()
        view.append(rows(0, 100))
        await pilot.pause()
        assert on_screen(view)[-1] == "line 99"
        await pilot.press("up", "up")  # reading back: new lines do not pull the view down
        top = on_screen(view)
        view.append(rows(100, 10))
        await pilot.pause()
        assert on_screen(view) == top and top[-1] == "line 97"
        await pilot.press("end")  # at the end again: following again
        await pilot.pause()
        view.append(rows(110, 5))
        await pilot.pause()
        assert on_screen(view)[-1] == "line 114"
        view.set_follow(False)  # follow off: the view stays where it is, even at the end
        view.append(rows(115, 5))
        await pilot.pause()
        assert on_screen(view)[-1] == "line 114"
        view.set_follow(True)  # on again: straight to the end
        await pilot.pause()
        assert on_screen(view)[-1] == "line 119"


async def test_wrap_cuts_long_lines_at_the_width() -> None:
    async with ViewApp().run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        width = view.scrollable_content_region.width
        long = "".join(chr(ord("a") + i % 26) for i in range(width * 2 + 5))
        view.append([*rows(0, 1), (1, T0 + 1, 0, "h", "stdout", long), *rows(2, 1)])
        await pilot.pause()
        assert on_screen(view) == ["line 0", long[:width], "line 2"]
        assert view.virtual_size.width > width  # scrolls sideways instead
        view.wrap = True
        await pilot.pause()
        assert on_screen(view) == ["line 0", long[:width], long[width:2 * width], long[2 * width:], "line 2"]
        assert view.virtual_size == (width, 5)
        view.wrap = False
        await pilot.pause()
        assert on_screen(view) == ["line 0", long[:width], "line 2"]


async def test_timestamps_and_filter_apply_to_every_line() -> None:
    async with ViewApp().run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        view.append([*rows(0, 1, "rsync: ok"), *rows(1, 1, "rsync: ERROR 23", "stderr"),
                     *rows(2, 1, "mv files parked", "cmd")])
        view.timestamps = True
        await pilot.pause()
        assert on_screen(view) == ["22:13:20 rsync: ok", "22:13:21 rsync: ERROR 23", "22:13:22 $ mv files parked"]
        view.filter = "error"  # case-insensitive, on the line's text
        view.append(rows(3, 2, "error {} again"))  # lines arriving are filtered too
        await pilot.pause()
        assert on_screen(view) == ["22:13:21 rsync: ERROR 23", "22:13:23 error 3 again", "22:13:24 error 4 again"]
        view.filter, view.timestamps = "", False
        await pilot.pause()
        assert len(on_screen(view)) == 5 and on_screen(view)[0] == "rsync: ok"


async def test_remote_colours_and_stream_styles_are_kept() -> None:
    async with ViewApp().run_test(size=SIZE) as pilot:
        view = view_of(pilot)
        view.append([(0, T0, 0, "h", "stdout", "\x1b[31mred\x1b[0m then plain"),
                     (1, T0, 0, "h", "stderr", "warning: slow"),
                     (2, T0, 0, "h", "cmd", "drush updb"),
                     (3, T0, 0, "h", "stdout", "tab\there\x07, bell gone")])
        await pilot.pause()
        segments = [{s.text: s.style for s in view.render_line(y) if s.text.strip()} for y in range(4)]
        assert segments[0]["red"].color.number == Color.parse("red").number  # the remote's SGR 31
        assert segments[0][" then plain"].color == view.rich_style.color  # the pane's own foreground
        assert segments[1]["warning: slow"].color.number == Color.parse("yellow").number
        cmd = segments[2]["$ drush updb"]
        assert cmd.color.number == Color.parse("cyan").number and cmd.bold
        assert on_screen(view)[:4] == ["red then plain", "warning: slow", "$ drush updb", "tab     here, bell gone"]
