"""The Textual application: global keys, the command palette, navigation between screens.

Screens live in ``qm_tui.screens``; each runs its engine calls in its own async workers and reports
back with the typed messages of ``qm_tui.screens.messages``. Navigation requests (``OpenSite``,
``OpenCompare``, ``MigrateRequested``) bubble up to this class, the one place that decides which
screen comes next, so the migration screens can be wired in here later.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from .config import Config
from .engine.model import Inventory
from .engine.spawn import spawn_runner
from .engine.states import PublicState
from .errors import QmError
from .screens.base import describe_error
from .screens.batch import BatchScreen
from .screens.batch_confirm import BatchConfirm, BatchPlan
from .screens.compare import CompareScreen
from .screens.confirm import ConfirmAction, MigrateConfirm, platform_key
from .screens.help import HelpScreen
from .screens.messages import (
    BatchRequested,
    MigrateRequested,
    OpenBatch,
    OpenCompare,
    OpenRun,
    OpenRuns,
    OpenSite,
    RenameRequested,
)
from .screens.palette import SiteCommands
from .screens.rename import RenameConfirm
from .screens.run import RunScreen
from .screens.runs import RunsScreen
from .screens.site import SiteScreen
from .screens.sites import SitesScreen

if TYPE_CHECKING:
    from .engine.operations import Prepared

__all__ = ["GC_THRESHOLD", "QmApp", "run_app"]


class QmApp(App[int], inherit_bindings=False):
    TITLE = "qm-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {SiteCommands}
    # Every binding has an id so a keymap (App.set_keymap) can move it, as Posting does.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("ctrl+c", "help_quit", show=False, system=True),
        Binding("question_mark", "help", "Help", id="app.help", key_display="?"),
        Binding("escape", "back", "Back", id="app.back"),
        Binding("ctrl+p", "command_palette", "Commands", id="app.palette", priority=True, show=False),
        # ':' is not a priority binding, so it still types a colon in the filter boxes.
        Binding("colon", "command_palette", "Commands", id="app.palette-colon", key_display=":",
                show=False),
    ]

    strict: reactive[bool] = reactive(False)
    show_deleted: reactive[bool] = reactive(False)

    def __init__(self, config: Config, read_only: bool = False) -> None:
        super().__init__()
        self.config = config
        self.read_only = read_only  # hides every dangerous action (migrate, abort, rollback, resume)
        self._quit_asked = False
        self.inventory: Inventory | None = None  # the last list the Sites screen loaded
        self.set_reactive(QmApp.strict, config.strict)
        where = config.title or config.hostmaster.server
        self.sub_title = f"{where} · read-only" if read_only else where
        # Slow links: no smooth scrolling or sliding widgets; every frame costs bandwidth.
        self.animation_level = "none"

    def get_default_screen(self) -> Screen[object]:
        return SitesScreen()

    # --- global actions ---------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.screen))

    async def action_back(self) -> None:
        if isinstance(self.screen, ModalScreen):
            self.screen.dismiss()
        elif len(self.screen_stack) > 1:
            self.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            # Nothing to go back to from the start screen: hide the key instead of a dead one.
            return len(self.screen_stack) > 1
        return True

    async def action_open_site_filter(self) -> None:
        """Back to the site list with the filter box open (palette: "Open site")."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if isinstance(self.screen, SitesScreen):
            self.screen.action_filter()

    async def action_reload(self) -> None:
        await self.screen.run_action("reload")

    def action_toggle_deleted(self) -> None:
        self.show_deleted = not self.show_deleted

    def action_toggle_strict(self) -> None:
        self.strict = not self.strict

    def watch_strict(self, strict: bool) -> None:
        self.notify(f"Strict mode {'on' if strict else 'off'}: missing modules "
                    f"{'block' if strict else 'do not block'} a target", timeout=3)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        if isinstance(screen, RunScreen):
            yield from screen.palette_commands()  # abort, pause, rollback, resume, log view
        yield SystemCommand("Open site", "Find a site by URI (or type part of a URI here)",
                            self.action_open_site_filter)
        yield SystemCommand("Refresh", "Re-read the hostmaster for this screen", self.action_reload)
        yield SystemCommand(
            "Show deleted sites" if not self.show_deleted else "Hide deleted sites",
            "Toggle deleted sites in the site list", self.action_toggle_deleted)
        yield SystemCommand(
            "Strict mode: turn " + ("off" if self.strict else "on"),
            "Strict mode: an enabled module missing on the target blocks it", self.action_toggle_strict)
        yield SystemCommand("Runs", "Migration history; attach to a run, resume or roll it back",
                            self.action_runs)
        yield SystemCommand("Help", "Keys of this screen and global keys", self.action_help)
        yield from super().get_system_commands(screen)

    # --- navigation -------------------------------------------------------------------------------

    @on(OpenSite)
    def _open_site(self, message: OpenSite) -> None:
        self.push_screen(SiteScreen(message.uri))

    @on(OpenCompare)
    def _open_compare(self, message: OpenCompare) -> None:
        self.push_screen(CompareScreen(message.uri, message.platform, message.targets, message.verdict))

    @on(MigrateRequested)
    def _migrate(self, message: MigrateRequested) -> None:
        if self.read_only:
            self.notify("read-only mode: migration is disabled", severity="warning")
            return
        site, platform, strict = message.site, message.platform, message.strict
        self.push_screen(MigrateConfirm(self.config, site, platform, strict),
                         lambda prep: self.start_run(prep, platform_key(platform), strict))

    @on(RenameRequested)
    def _rename(self, message: RenameRequested) -> None:
        if self.read_only:
            self.notify("read-only mode: rename is disabled", severity="warning")
            return
        self.push_screen(RenameConfirm(self.config, message.site),
                         lambda prep: self.start_run(prep, prep.ctx.dst_uri if prep else "", False))

    @on(BatchRequested)
    def _batch(self, message: BatchRequested) -> None:
        if self.read_only:
            self.notify("read-only mode: batch migrate is disabled", severity="warning")
            return
        targets = self.inventory.platforms if self.inventory else []
        self.push_screen(BatchConfirm(self.config, message.source, targets, message.sites, self.strict),
                         self.start_batch)

    def start_batch(self, plan: BatchPlan | None) -> None:
        """Confirmed: record the batch, start its detached runner (closing the TUI never stops it), follow it."""
        if plan is None or self.read_only:
            return
        from .engine.batch import create_batch
        from .engine.journal import Journal

        try:
            journal = Journal(self.config.state_dir)
            try:
                batch_id = create_batch(journal, plan.source, plan.target, plan.options, plan.candidates)
            finally:
                journal.close()
            spawn_runner(self.config, batch_id, ["_batch", batch_id])
        except (OSError, sqlite3.Error, QmError) as exc:
            self.notify(describe_error(exc), title="The batch did not start", severity="error", timeout=15)
            return
        for screen in self.screen_stack:
            if isinstance(screen, SitesScreen):
                screen.clear_picked()
        self.push_screen(BatchScreen(batch_id))

    def start_run(self, prep: Prepared | None, platform: str, strict: bool) -> None:
        """Confirmed: start the detached runner (closing the TUI never stops it) and follow it."""
        if prep is None or self.read_only:
            return
        run_id = prep.ctx.run_id
        argv = ["_run", prep.op.kind, prep.ctx.uri, platform, "--run-id", run_id,
                "--strict" if strict else "--no-strict"]
        try:
            proc, out = spawn_runner(self.config, run_id, argv)
        except OSError as exc:
            self.notify(describe_error(exc), title="The runner did not start", severity="error", timeout=15)
            return
        self.push_screen(RunScreen(run_id, proc=proc, out=out))

    def action_runs(self) -> None:
        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen())

    @on(OpenRuns)
    def _open_runs(self) -> None:
        self.action_runs()

    @on(OpenRun)
    def _open_run(self, message: OpenRun) -> None:
        self.push_screen(RunScreen(message.run_id))

    @on(OpenBatch)
    def _open_batch(self, message: OpenBatch) -> None:
        self.push_screen(BatchScreen(message.batch_id))

    # --- quitting while attached ------------------------------------------------------------------

    def attached_run(self) -> str | None:
        """The id of a running migration a Run screen follows, if any."""
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen) and screen.run_state == PublicState.RUNNING:
                return screen.run_id
        return None

    async def action_quit(self) -> None:
        run_id = self.attached_run()
        if run_id is None or self._quit_asked:
            self.exit(0)
            return
        self._quit_asked = True

        def answered(yes: bool | None) -> None:
            self._quit_asked = False
            if yes:
                self.exit(0)

        self.push_screen(ConfirmAction(
            "The run continues",
            f"Run {run_id} goes on in its own detached process; quitting only stops watching it.\n"
            f"Reattach with: qm-tui watch {run_id}  (or the Runs screen: R, or \"Runs\" in the palette)",
            "Quit", cancel_label="Stay", dangerous=False), answered)


#: Young collections every 20,000 allocations instead of 700 while the app runs (see run_app).
GC_THRESHOLD = (20_000, 20, 20)


def run_app(config: Config, read_only: bool = False) -> int:
    # The app allocates in bursts (10,000 site rows at start-up, polls of 5,000 log rows) whose objects
    # mostly live on: at the default threshold (700) the collector ran hundreds of passes per burst for
    # little garbage. bench/bench_tui.py: 546 -> 8 passes in a 10 s log flood, start-up GC 0.28 -> 0.08 s.
    # Set here, not at import: the tests and the other CLI commands keep Python's defaults.
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        return QmApp(config, read_only=read_only).run() or 0
    finally:
        gc.set_threshold(*previous)
