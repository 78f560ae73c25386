"""Help: the keys of the screen underneath and the global ones, read from the live bindings.

Generated rather than written by hand, so it follows ``check_action`` (a key hidden in read-only mode
is not listed), the focused widget's bindings and any user keymap.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

__all__ = ["HelpScreen", "binding_rows"]


def binding_rows(app: App[object], screen: Screen[object]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(screen keys, global keys) as (key display, description), one row per action.

    Only bindings with an ``id`` are listed: those are ours and remappable through a keymap. Textual's
    own (cursor keys of a table, focus cycling) carry none and would bury the useful ones.
    """
    by_action: dict[tuple[bool, str], tuple[list[str], str]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.system or not binding.id:
            continue
        is_global = active.node is app
        # The footer has room for a word; help shows the longer tooltip when a binding has one.
        slot = by_action.setdefault((is_global, binding.action), ([], binding.tooltip or binding.description))
        display = app.get_key_display(Binding(key, binding.action, key_display=binding.key_display))
        if display not in slot[0]:
            slot[0].append(display)
    local: list[tuple[str, str]] = []
    global_: list[tuple[str, str]] = []
    for (is_global, _action), (keys, description) in by_action.items():
        (global_ if is_global else local).append((" ".join(keys), description))
    return local, global_


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=8)
    table.add_column()
    table.title = Text(title, style="bold underline")
    table.title_justify = "left"
    for key, description in rows:
        table.add_row(key, description)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, target: Screen[object]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        local, global_ = binding_rows(self.app, self.target)
        title = getattr(self.target, "BINDING_GROUP_TITLE", None) or "This screen"
        with Vertical(id="help-box"):
            yield Static(Text("Keys", style="bold"), id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(_table(title, local), id="help-screen-keys")
                yield Static(_table("Global", global_), id="help-global-keys")
            yield Static("escape, q or ? closes this help", id="help-hint", classes="status-line")
