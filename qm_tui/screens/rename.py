"""The rename confirm: type the new name, see the plan and its preflight, type it again to proceed.

The plan is made (and preflighted, changing nothing) when the name is submitted; Proceed is enabled only
when that plan is clean and the second field holds exactly the same name. Dismisses with the
``Prepared`` plan (the app starts the detached runner) or None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Input, Static

from ..config import Config
from ..engine.model import Site
from .base import describe_error
from .modal import ModalDialog, preflight_verdict, proceed_row, step_lines

if TYPE_CHECKING:
    from ..engine.operations import Prepared

__all__ = ["RenameConfirm", "RenamePrepareFn"]

#: (config, uri, new uri) -> (prepared plan, preflight problems)
RenamePrepareFn = Callable[[Config, str, str], Awaitable[tuple["Prepared", list[str]]]]


async def prepare_rename(cfg: Config, uri: str, new_uri: str) -> tuple[Prepared, list[str]]:
    from ..engine.planning import prepare_and_check  # the SSH stack: only once asked for

    return await prepare_and_check(cfg, uri, new_uri, False, kind="rename")


class RenameConfirm(ModalDialog["Prepared | None"]):
    DEFAULT_CSS = """
    RenameConfirm #rename-box {
        height: 90%;
        max-height: 44;
    }

    RenameConfirm #rename-plan {
        height: 1fr;
        min-height: 3;
    }

    RenameConfirm #rename-problems {
        height: auto;
        max-height: 6;
    }

    RenameConfirm Input {
        margin: 1 0 0 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="rename.cancel")]

    def __init__(self, config: Config, site: Site, prepare: RenamePrepareFn | None = None) -> None:
        super().__init__()
        self.config, self.site = config, site
        self.prepare = prepare or prepare_rename
        self.prepared: Prepared | None = None
        self.problems: list[str] | None = None
        self.planned_for: str | None = None  # the name the shown plan is for

    def compose(self) -> ComposeResult:
        with Vertical(id="rename-box", classes="modal-box"):
            yield Static(Text("Quick-rename", style="bold"), id="rename-title")
            yield Static(Text.assemble(("Site ", "dim"), (self.site.uri, "bold"), ("  on ", "dim"),
                                       self.site.platform, ("  (same platform, new domain; files renamed, "
                                                            "never copied)", "dim")), id="rename-summary")
            yield Input(placeholder="new name, then Enter to plan and preflight", id="rename-new", compact=True)
            with VerticalScroll(id="rename-plan"):
                yield Static("", id="rename-steps")
            yield Static("", id="rename-problems")
            yield Input(placeholder="type the new name again to proceed", id="rename-again", compact=True)
            yield proceed_row("rename", "proceed", "Proceed")

    def on_mount(self) -> None:
        self.query_one("#rename-new", Input).focus()

    @property
    def new_name(self) -> str:
        return self.query_one("#rename-new", Input).value.strip().lower()

    @on(Input.Submitted, "#rename-new")
    def _plan(self) -> None:
        if not self.new_name:
            return
        self.prepared, self.problems, self.planned_for = None, None, self.new_name
        self.query_one("#rename-steps", Static).update(f"preparing the plan and preflight for {self.new_name}…")
        self.query_one("#rename-problems", Static).update("")
        self._update_proceed()
        self.check_plan(self.new_name)

    @work(exclusive=True, group="rename", exit_on_error=False, description="plan and preflight")
    async def check_plan(self, new_uri: str) -> None:
        try:
            prep, problems = await self.prepare(self.config, self.site.uri, new_uri)
        except Exception as exc:  # a bad name, an unreachable hostmaster: shown, nothing changed
            if new_uri == self.planned_for:
                self.problems = [describe_error(exc)]
                self.query_one("#rename-steps", Static).update("")
                self._show_problems()
            return
        if new_uri != self.planned_for:
            return  # the name changed meanwhile
        self.prepared, self.problems = prep, list(problems)
        self.query_one("#rename-steps", Static).update(Group(*step_lines(prep.steps)))
        self._show_problems()
        if not self.problems:
            self.query_one("#rename-again", Input).focus()

    def _show_problems(self) -> None:
        self.query_one("#rename-problems", Static).update(preflight_verdict(self.problems))
        self._update_proceed()

    @property
    def can_proceed(self) -> bool:
        again = self.query_one("#rename-again", Input).value.strip().lower()
        return (self.prepared is not None and self.problems == [] and self.planned_for == self.new_name
                and again == self.prepared.ctx.dst_uri)

    def _update_proceed(self) -> None:
        self.query_one("#rename-proceed", Button).disabled = not self.can_proceed

    @on(Input.Changed)
    def _typed(self) -> None:
        self._update_proceed()

    @on(Input.Submitted, "#rename-again")
    @on(Button.Pressed, "#rename-proceed")
    def _proceed(self) -> None:
        if self.can_proceed:
            self.dismiss(self.prepared)

    @on(Button.Pressed, "#rename-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
