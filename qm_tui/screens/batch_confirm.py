"""The batch confirm: a target, the policy, every selected site eligible or why not, the target typed to proceed.

Picking a target evaluates every selected site against it from the hostmaster (``batch.select``, changing
nothing); Start is enabled only when at least one site is eligible, the policy is valid and the typed name
is exactly the target's. Dismisses with a :class:`BatchPlan` (the app records the batch and starts its
detached runner) or None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from ..config import Config
from ..engine.model import Platform
from ..errors import QmError
from .base import describe_error
from .confirm import platform_key
from .modal import ModalDialog, proceed_row

if TYPE_CHECKING:
    from ..engine.batch import BatchOptions, Candidate

__all__ = ["BatchConfirm", "BatchPlan", "SelectFn", "candidate_lines", "policy_line"]

#: (config, source, target, sites, strict) -> every site's verdict; ``batch.select`` by default
SelectFn = Callable[[Config, str, str, Sequence[str], bool], Awaitable[list["Candidate"]]]


async def select_sites(cfg: Config, source: str, target: str, sites: Sequence[str], strict: bool) -> list[Candidate]:
    from ..engine.batch import select  # reads the hostmaster only

    return await select(cfg, source, target, sites, strict=strict)


@dataclass(frozen=True)
class BatchPlan:
    """What the operator confirmed: the platforms (as the runner finds them again), policy and verdicts."""

    source: str
    target: str
    target_title: str
    options: BatchOptions
    candidates: tuple[Candidate, ...]


def policy_line(opts: BatchOptions) -> str:
    fail = f"on failure {opts.on_failure}" + (f" (at most {opts.max_failures})" if opts.max_failures else "")
    return (f"canary {opts.canary} alone, then {opts.concurrency} at a time; {fail}; "
            f"post-check {'on' if opts.post_check else 'off'}")


def candidate_lines(cands: Sequence[Candidate]) -> list[Text]:
    out = [Text(f"{sum(c.eligible for c in cands)} of {len(cands)} sites eligible:", style="bold")]
    for c in cands:
        if c.eligible:
            changes = ", ".join(f"{n} {k}" for k, n in c.changes.items())
            out.append(Text.assemble(("  ✔ ", "green"), c.uri, (f"  ({changes})" if changes else "", "dim")))
        else:
            out.append(Text.assemble(("  ✘ ", "red"), (c.uri, "dim"), ("  — " + "; ".join(c.reasons), "yellow")))
    return out


class BatchConfirm(ModalDialog["BatchPlan | None"]):
    DEFAULT_CSS = """
    BatchConfirm #batch-box {
        width: 100;
        height: 90%;
        max-height: 48;
    }

    BatchConfirm #batch-sites-list {
        height: 1fr;
        min-height: 3;
    }

    BatchConfirm .batch-options {
        height: 1;
        margin-top: 1;
        & Label { margin: 0 1 0 0; }
        & Input { width: 6; margin-right: 2; }
        & Select { width: 16; margin-right: 2; }
    }

    BatchConfirm #batch-target { margin-top: 1; }

    BatchConfirm #batch-again { margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="batch-confirm.cancel")]

    def __init__(self, config: Config, source: Platform, targets: Sequence[Platform], sites: Sequence[str],
                 strict: bool, select: SelectFn | None = None) -> None:
        super().__init__()
        self.config, self.source, self.sites, self.strict = config, source, tuple(sites), strict
        self.targets = {platform_key(p): p for p in targets if p.nid != source.nid}
        self.select = select or select_sites
        self.candidates: list[Candidate] | None = None
        self.checked_for: str | None = None  # the target the shown verdicts are for

    def compose(self) -> ComposeResult:
        what = f"the {len(self.sites)} picked sites" if self.sites else "every enabled site"
        with Vertical(id="batch-box", classes="modal-box"):
            yield Static(Text("Batch quick-migrate", style="bold"), id="batch-confirm-title")
            yield Static(Text.assemble(("From ", "dim"), (self.source.title, "bold"), (f": {what}; each its own "
                                       "run, lock and rollback (files renamed, never copied)", "dim")))
            yield Select([(p.title, key) for key, p in sorted(self.targets.items(), key=lambda kp: kp[1].title)],
                         prompt="target platform", id="batch-target", compact=True)
            with Horizontal(classes="batch-options"):
                yield Label("canary")
                yield Input("1", id="batch-canary", type="integer", compact=True)
                yield Label("concurrency")
                yield Input("1", id="batch-concurrency", type="integer", compact=True)
                yield Label("on failure")
                yield Select([("stop", "stop"), ("continue", "continue")], value="stop", allow_blank=False,
                             id="batch-on-failure", compact=True)
                yield Label("max failures")
                yield Input("", id="batch-max-failures", type="integer", placeholder="-", compact=True)
            with VerticalScroll(id="batch-sites-list"):
                yield Static("pick a target platform: every site is checked against it", id="batch-verdicts")
            yield Static("", id="batch-policy")
            yield Input(placeholder="type the target platform's name to proceed", id="batch-again", compact=True)
            yield proceed_row("batch", "start", "Start batch")

    def on_mount(self) -> None:
        self.query_one("#batch-target", Select).focus()
        self._update()

    @property
    def target(self) -> str | None:
        value = self.query_one("#batch-target", Select).value
        return value if isinstance(value, str) else None

    def options(self) -> BatchOptions:
        """The policy as typed; a ``QmError`` names what is wrong."""
        from ..engine.batch import BatchOptions  # the runner's stack: only once a batch is being set up

        def number(field: str, default: int | None) -> int | None:
            text = self.query_one(f"#batch-{field}", Input).value.strip()
            try:
                return int(text) if text else default
            except ValueError:
                raise QmError(f"{field.replace('-', ' ')} must be a number") from None

        fail = str(self.query_one("#batch-on-failure", Select).value)
        opts = BatchOptions(number("concurrency", 1) or 0, number("canary", 1) or 0, fail,
                            number("max-failures", None), self.strict)
        opts.check()
        if opts.max_failures is not None and fail != "continue":
            raise QmError("max failures applies to on failure continue")
        return opts

    @on(Select.Changed, "#batch-target")
    def _target_changed(self) -> None:
        self.candidates, self.checked_for = None, self.target
        if self.target is not None:
            self.query_one("#batch-verdicts", Static).update(
                f"checking {len(self.sites) or 'every enabled'} sites against {self.targets[self.target].title}…")
            self.check_sites(self.target)
        self._update()

    @work(exclusive=True, group="batch-select", exit_on_error=False, description="check the sites")
    async def check_sites(self, target: str) -> None:
        try:
            cands = await self.select(self.config, platform_key(self.source), target, self.sites, self.strict)
        except Exception as exc:  # an unreachable hostmaster, a platform gone: shown, nothing changed
            if target == self.checked_for:
                self.query_one("#batch-verdicts", Static).update(Text(describe_error(exc), style="bold red"))
            return
        if target != self.checked_for:
            return  # the target changed meanwhile
        self.candidates = cands
        self.query_one("#batch-verdicts", Static).update(Group(*candidate_lines(cands)))
        self._update()

    def plan(self) -> BatchPlan | None:
        """The confirmed batch, or None while something is missing (the policy line says what)."""
        target = self.target
        if target is None or self.candidates is None or self.checked_for != target:
            return None
        try:
            opts = self.options()
        except QmError:
            return None
        if not any(c.eligible for c in self.candidates):
            return None
        typed = self.query_one("#batch-again", Input).value.strip()
        title = self.targets[target].title
        if typed != title:
            return None
        return BatchPlan(platform_key(self.source), target, title, opts, tuple(self.candidates))

    def _update(self) -> None:
        policy = self.query_one("#batch-policy", Static)
        try:
            opts = self.options()
        except QmError as exc:
            policy.update(Text(str(exc), style="bold red"))
        else:
            line = Text(policy_line(opts))
            if self.target is not None and self.candidates is not None and not any(c.eligible for c in self.candidates):
                line = Text("no picked site is eligible for this target: nothing to start", style="bold red")
            elif self.target is not None:
                line.append(f"  · type {self.targets[self.target].title} to start", style="dim")
            policy.update(line)
        self.query_one("#batch-start", Button).disabled = self.plan() is None

    @on(Input.Changed)
    @on(Select.Changed, "#batch-on-failure")
    def _typed(self) -> None:
        self._update()

    @on(Input.Submitted, "#batch-again")
    @on(Button.Pressed, "#batch-start")
    def _start(self) -> None:
        plan = self.plan()
        if plan is not None:
            self.dismiss(plan)

    @on(Button.Pressed, "#batch-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
