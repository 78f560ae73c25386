"""Confirmation modals: the quick-migrate Confirm (type the site's URI) and a generic dangerous-action one.

Focus starts on Cancel in both, so a reflexive Enter changes nothing (k9s ``SetFocus(2)``). Each is a
:class:`~.modal.ModalDialog`, which centers it and styles its box; its own rules are in its ``DEFAULT_CSS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Static
from textual.widgets.button import ButtonVariant
from textual.worker import Worker, WorkerState

from ..config import Config
from ..engine.model import Platform, Site
from .base import describe_error
from .messages import PlanChecked
from .modal import ModalDialog, preflight_verdict, proceed_row, step_lines

if TYPE_CHECKING:
    from ..engine.operations import Prepared

__all__ = ["ChooseAction", "ConfirmAction", "MigrateConfirm", "PrepareFn", "platform_key", "prepare_and_check"]

#: (config, uri, platform key, strict) -> (prepared plan, preflight problems)
PrepareFn = Callable[[Config, str, str, bool], Awaitable[tuple["Prepared", list[str]]]]


def platform_key(platform: Platform) -> str:
    """How the runner finds the target again: its context name (unique), else its nid."""
    return platform.context or str(platform.nid)


async def prepare_and_check(cfg: Config, uri: str, platform: str, strict: bool) -> tuple[Prepared, list[str]]:
    """The migrate's plan and its preflight, as ``qm-tui plan`` does; changes nothing on any host."""
    from ..engine.planning import prepare_and_check as engine_prepare  # the SSH stack: only once asked for

    return await engine_prepare(cfg, uri, platform, strict)


class ChooseAction(ModalDialog["str | None"]):
    """Cancel plus one button per choice, e.g. abort: roll back, or stop without rolling back.

    ``choices`` are (key, label, button variant); dismisses with the chosen key, None on Cancel or escape.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="choose-action.cancel"),
    ]

    def __init__(self, title: str, body: str, choices: Sequence[tuple[str, str, ButtonVariant]],
                 cancel_label: str = "Cancel") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.choices = list(choices)
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical(id="action-box", classes="modal-box"):
            yield Static(Text(self.title_text, style="bold"), id="action-title")
            yield Static(self.body, id="action-body", classes="modal-body", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(self.cancel_label, id="action-cancel", compact=True)
                for key, label, variant in self.choices:
                    yield Button(label, id=f"action-{key}", name=key, compact=True, variant=variant)

    def on_mount(self) -> None:
        self.query_one("#action-cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "action-cancel" else event.button.name)


class ConfirmAction(ModalDialog[bool]):
    """Yes/no for rollback, resume, quit: ``dismiss(True)`` only from the action button."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm-action.cancel"),
    ]

    def __init__(self, title: str, body: str, action_label: str, cancel_label: str = "Cancel",
                 dangerous: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.action_label = action_label
        self.cancel_label = cancel_label
        self.dangerous = dangerous

    def compose(self) -> ComposeResult:
        with Vertical(id="action-box", classes="modal-box"):
            yield Static(Text(self.title_text, style="bold"), id="action-title")
            yield Static(self.body, id="action-body", classes="modal-body")
            with Horizontal(classes="modal-buttons"):
                yield Button(self.cancel_label, id="action-cancel", compact=True)
                yield Button(self.action_label, id="action-ok", compact=True,
                             variant="error" if self.dangerous else "primary")

    def on_mount(self) -> None:
        self.query_one("#action-cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#action-cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#action-ok")
    def _ok(self) -> None:
        self.dismiss(True)


def _summary(site: Site, platform: Platform, strict: bool) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Site", site.uri)
    grid.add_row("From → to", f"{site.platform} → {platform.title}")
    grid.add_row("Fronts", ", ".join(site.fronts) or "-")
    grid.add_row("Mode", "strict" if strict else "lenient")
    return grid


class MigrateConfirm(ModalDialog["Prepared | None"]):
    """Site, from → to, fronts, counts and the plan's steps; proceed only after typing the URI.

    The plan and preflight run in a worker when the modal opens; a refusal is listed here and
    Proceed stays disabled. Dismisses with the ``Prepared`` plan (the app starts the detached runner).
    """

    DEFAULT_CSS = """
    MigrateConfirm #confirm-box {
        height: 90%;
        max-height: 44;
    }

    MigrateConfirm #confirm-plan {
        height: 1fr;
        min-height: 3;
    }

    MigrateConfirm #confirm-problems {
        height: auto;
        max-height: 6;
    }

    MigrateConfirm #confirm-uri {
        margin: 1 0 0 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, config: Config, site: Site, platform: Platform, strict: bool,
                 prepare: PrepareFn | None = None) -> None:
        super().__init__()
        self.config = config
        self.site = site
        self.platform = platform
        self.strict = strict
        self.prepare = prepare or prepare_and_check
        self.prepared: Prepared | None = None
        self.problems: list[str] | None = None  # None: preflight still running

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Static(Text("Quick-migrate", style="bold"), id="confirm-title")
            yield Static(_summary(self.site, self.platform, self.strict), id="confirm-summary")
            with VerticalScroll(id="confirm-plan"):
                yield Static("preparing the plan and preflight…", id="confirm-steps")
            yield Static("", id="confirm-problems")
            yield Input(placeholder=f"type {self.site.uri} to proceed", id="confirm-uri", compact=True)
            yield proceed_row("confirm", "proceed", "Proceed")

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()
        self.check_plan()

    @work(exclusive=True, group="confirm", exit_on_error=False, description="plan and preflight")
    async def check_plan(self) -> None:
        prep, problems = await self.prepare(self.config, self.site.uri, platform_key(self.platform), self.strict)
        self.post_message(PlanChecked(prep, problems))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.problems = [f"the plan could not be made: {describe_error(event.worker.error)}"]
            self.query_one("#confirm-steps", Static).update("")
            self._show_problems()

    @on(PlanChecked)
    def _checked(self, message: PlanChecked) -> None:
        from ..engine.operations import Prepared

        assert isinstance(message.prepared, Prepared)
        prep = self.prepared = message.prepared
        self.problems = list(message.problems)
        ctx = prep.ctx
        counts = prep.verdict.counts
        lines = [Text(f"Hostmaster: {ctx.master_title}"),
                 Text("Modules: " + (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "none")),
                 *step_lines(prep.steps)]
        self.query_one("#confirm-steps", Static).update(Group(*lines))
        self._show_problems()

    def _show_problems(self) -> None:
        self.query_one("#confirm-problems", Static).update(preflight_verdict(self.problems))
        self._update_proceed()

    @property
    def can_proceed(self) -> bool:
        typed = self.query_one("#confirm-uri", Input).value.strip()
        return self.prepared is not None and self.problems == [] and typed == self.site.uri

    def _update_proceed(self) -> None:
        self.query_one("#confirm-proceed", Button).disabled = not self.can_proceed

    @on(Input.Changed, "#confirm-uri")
    def _typed(self) -> None:
        self._update_proceed()

    @on(Input.Submitted, "#confirm-uri")
    def _submitted(self) -> None:
        if self.can_proceed:
            self.dismiss(self.prepared)

    @on(Button.Pressed, "#confirm-proceed")
    def _proceed(self) -> None:
        if self.can_proceed:
            self.dismiss(self.prepared)

    @on(Button.Pressed, "#confirm-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
