"""Site screen: one site's details and every other platform as a quick-migrate target."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Label, Static, Switch
from textual.worker import Worker

from ..engine import service
from ..engine.eligibility import TargetVerdict
from ..engine.model import Platform, Site
from ..engine.service import SiteTargets
from .base import EngineScreen, fmt_date
from .messages import MigrateRequested, OpenCompare, RenameRequested, TargetsLoaded

__all__ = ["SiteScreen", "site_details"]

TARGET_COLUMNS = (
    ("platform", "Platform"), ("core", "Core"), ("web", "Web server"), ("ok", "OK"),
    ("error", "Err"), ("missing", "Miss"), ("upgrade", "Up"), ("downgrade", "Down"), ("why", "Why not"),
)


def site_details(site: Site, source: Platform | None) -> Table:
    """Two label/value column pairs: fits 80 columns, one line per pair."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    core = (source.core_version if source else None) or "?"
    web = site.web_server or "?"
    if source is not None and source.web_server_title and source.web_server_title != web:
        web = source.web_server_title
    db = site.db_server or "?"
    if site.db_name:
        db += f" / {site.db_name}"
    grid.add_row("URI", site.uri, "Status", site.status.label)
    grid.add_row("Platform", site.platform, "Core", core)
    grid.add_row("Web server", web, "Fronts", ", ".join(site.fronts) or "-")
    grid.add_row("Profile", site.profile or "-", "Client", site.client or "-")
    grid.add_row("DB server", db, "Verified", fmt_date(site.verified))
    return grid


def _count(n: int, style: str) -> Text:
    return Text(str(n), style=style if n else "dim")


class SiteScreen(EngineScreen):
    BINDING_GROUP_TITLE = "Site"
    DANGEROUS = frozenset({"migrate", "rename"})
    BINDINGS: ClassVar[list[BindingType]] = [
        # enter on the table does the same (DataTable.RowSelected); the table's own enter binding
        # shadows ours, so say it in the key display.
        Binding("c", "compare", "Compare", id="site.compare", key_display="c/⏎"),
        Binding("m", "migrate", "Migrate", id="site.migrate"),
        Binding("n", "rename", "Rename", id="site.rename", tooltip="Rename: same platform, new domain"),
        Binding("t", "toggle_strict", "Strict", id="site.strict"),
        Binding("r", "reload", "Refresh", id="site.refresh"),
    ]

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri
        self.targets: SiteTargets | None = None
        self._verdicts: dict[str, TargetVerdict] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.uri, id="site-details")
        with Horizontal(id="targets-bar"):
            yield Label("Targets", id="targets-title")
            yield Static("", id="site-status", classes="status-line")
            yield Label("strict mode", id="strict-label")
            yield Switch(value=self.qm.strict, id="strict", animate=False)
        yield DataTable(id="targets", cursor_type="row", zebra_stripes=True)
        yield Static("", id="target-reasons")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#targets", DataTable)
        for key, label in TARGET_COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.watch(self.qm, "strict", self._strict_changed, init=False)
        self.action_reload()

    # --- engine -----------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self._status(self.loading_text)
        self.load_targets(self.uri, self.qm.strict)

    @work(exclusive=True, group="targets", exit_on_error=False, description="evaluate targets")
    async def load_targets(self, uri: str, strict: bool) -> None:
        targets = await service.targets(self.qm.config, uri, strict=strict)
        self.post_message(TargetsLoaded(targets, strict))

    def engine_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self._status("load failed (r to retry)")

    def _status(self, text: str) -> None:
        self.query_one("#site-status", Static).update(text)

    @on(TargetsLoaded)
    def _loaded(self, message: TargetsLoaded) -> None:
        st = self.targets = message.targets
        self.query_one("#site-details", Static).update(site_details(st.site, st.source))
        # Selectable first, then by title: the likely choice is at the top.
        verdicts = sorted(st.verdicts, key=lambda v: (not v.selectable, v.platform.title.lower(), v.platform.nid))
        current = self.cursor_verdict  # keep the cursor on the same platform across a refresh
        self._verdicts = {str(v.platform.nid): v for v in verdicts}
        table = self.query_one("#targets", DataTable)
        with self.app.batch_update():
            table.clear()
            for v in verdicts:
                c = v.counts
                table.add_row(
                    v.platform.title, v.platform.core_version or "?", v.platform.web_server_title,
                    Text("yes", style="bold green") if v.selectable else Text("no", style="red"),
                    _count(c["error"], "bold red"), _count(c["missing"], "yellow"),
                    _count(c["upgrade"], "blue"), _count(c["downgrade"], "yellow"),
                    "; ".join(v.reasons), key=str(v.platform.nid))
            if current is not None and str(current.platform.nid) in self._verdicts:
                table.move_cursor(row=table.get_row_index(str(current.platform.nid)), animate=False)
        n_ok = sum(v.selectable for v in verdicts)
        mode = "strict" if message.strict else "lenient"
        self._status(f"{n_ok} of {len(verdicts)} selectable · {mode}")
        self._show_reasons()

    # --- target under the cursor ------------------------------------------------------------------

    @property
    def cursor_verdict(self) -> TargetVerdict | None:
        table = self.query_one("#targets", DataTable)
        if not self._verdicts or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # cursor outside the rows while the table refills
            return None
        return self._verdicts.get(key or "")

    @on(DataTable.RowHighlighted, "#targets")
    def _highlighted(self) -> None:
        self._show_reasons()

    def _show_reasons(self) -> None:
        v = self.cursor_verdict
        box = self.query_one("#target-reasons", Static)
        if v is None:
            box.update("")
        elif v.selectable:
            box.update(Text.assemble(("✔ ", "bold green"), f"{v.platform.title}: can be quick-migrated to"))
        else:
            lines = [Text.assemble(("✖ ", "bold red"), f"{v.platform.title} is not selectable:")]
            lines += [Text(f"  • {r}") for r in v.reasons]
            box.update(Group(*lines))
        self.refresh_bindings()  # "migrate" follows the highlighted target

    # --- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "migrate":
            v = self.cursor_verdict
            return True if v is not None and v.selectable else None  # shown, greyed out
        return allowed

    def action_compare(self) -> None:
        v = self.cursor_verdict
        if v is not None and self.targets is not None:
            self.post_message(OpenCompare(self.uri, v.platform, self.targets, v))

    @on(DataTable.RowSelected, "#targets")
    def _selected(self) -> None:
        self.action_compare()

    def action_migrate(self) -> None:
        v = self.cursor_verdict
        if v is None or self.targets is None or self.qm.read_only:
            return
        if not v.selectable:
            self.notify("; ".join(v.reasons), title=f"{v.platform.title} is not selectable",
                        severity="warning")
            return
        self.post_message(MigrateRequested(self.targets.site, v.platform, self.qm.strict))

    def action_rename(self) -> None:
        if self.targets is None or self.qm.read_only:
            return
        self.post_message(RenameRequested(self.targets.site))

    def action_toggle_strict(self) -> None:
        self.qm.strict = not self.qm.strict

    @on(Switch.Changed, "#strict")
    def _switch(self, event: Switch.Changed) -> None:
        if event.value != self.qm.strict:
            self.qm.strict = event.value

    def _strict_changed(self, strict: bool) -> None:
        switch = self.query_one("#strict", Switch)
        if switch.value != strict:
            with switch.prevent(Switch.Changed):
                switch.value = strict
        self.action_reload()
