"""Compare screen: a site's packages next to one target platform's, one row per package."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker

from ..engine import service
from ..engine.compare import VERDICTS, ComparedPackage, Verdict
from ..engine.eligibility import TargetVerdict
from ..engine.model import Platform
from ..engine.service import SiteTargets
from .base import EngineScreen
from .messages import ComparisonLoaded, MigrateRequested

__all__ = ["VERDICT_STYLE", "CompareScreen"]

NARROW = 100  # below this many columns, current and target stack on two lines per row

VERDICT_STYLE: dict[Verdict, str] = {
    "error": "bold red",
    "missing": "yellow",
    "absent-disabled": "dim italic",
    "downgrade": "yellow",
    "upgrade": "blue",
    "same": "dim",
}
WIDE_COLUMNS = (
    ("name", "Package"), ("type", "Type"), ("enabled", "Enabled"), ("current", "Current"),
    ("target", "Target"), ("cschema", "Schema"), ("tschema", "Target schema"), ("verdict", "Verdict"),
)
NARROW_COLUMNS = (
    ("name", "Package / type"), ("current", "Version: current / target"),
    ("cschema", "Schema"), ("verdict", "Verdict"),
)


def _v(value: str | int | None) -> str:
    return "—" if value is None else str(value)


def wide_cells(row: ComparedPackage) -> tuple[object, ...]:
    style = VERDICT_STYLE[row.verdict]
    target = _v(row.target_version)
    if row.renamed:
        target += f" ({row.target_short_name})"
    return (row.short_name, row.package_type, "yes" if row.enabled else "no", _v(row.current_version),
            Text(target, style=style), str(row.current_schema), Text(_v(row.target_schema), style=style),
            Text(row.verdict, style=style))


def narrow_cells(row: ComparedPackage) -> tuple[object, ...]:
    style = VERDICT_STYLE[row.verdict]
    name = Text.assemble(row.short_name, "\n", (f"{row.package_type}, "
                         f"{'enabled' if row.enabled else 'disabled'}", "dim"))
    version = Text.assemble(_v(row.current_version), "\n", ("→ " + _v(row.target_version), style))
    schema = Text.assemble(str(row.current_schema), "\n", ("→ " + _v(row.target_schema), style))
    return (name, version, schema, Text(row.verdict, style=style))


class CompareScreen(EngineScreen):
    BINDING_GROUP_TITLE = "Compare"
    DANGEROUS = frozenset({"migrate"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "toggle_all", "All/diff", id="compare.toggle-all"),
        Binding("slash", "filter", "Filter", id="compare.filter"),
        Binding("escape", "close_filter", "Clear filter", id="compare.close-filter", show=False),
        Binding("t", "toggle_strict", "Strict", id="compare.strict"),
        Binding("m", "migrate", "Migrate", id="compare.migrate"),
        Binding("r", "reload", "Refresh", id="compare.refresh"),
    ]

    def __init__(self, uri: str, platform: Platform, targets: SiteTargets | None = None,
                 verdict: TargetVerdict | None = None) -> None:
        super().__init__()
        self.uri = uri
        self.platform = platform
        self.targets = targets
        self.verdict = verdict
        self.show_all = False
        self.narrow: bool | None = None  # unknown until the first resize

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.uri} → {self.platform.title}", id="compare-title")
        yield Static("", id="compare-verdict")
        yield Static("", id="compare-summary", classes="status-line")
        yield Input(placeholder="filter packages by name, type or verdict", id="compare-filter",
                    compact=True)
        yield DataTable(id="packages", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#compare-filter", Input).display = False
        self.query_one("#packages", DataTable).focus()
        self.watch(self.qm, "strict", lambda _v: self.action_reload(), init=False)
        if self.targets is not None and self.verdict is not None:
            self._show(self.targets, self.verdict)  # handed over by the Site screen: no DB trip
        else:
            self.action_reload()

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        if narrow != self.narrow:
            self.narrow = narrow
            self.set_class(narrow, "-narrow")
            self._fill(rebuild=True)

    # --- engine -----------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.query_one("#compare-summary", Static).update(self.loading_text)
        # The context name is unique in the hostmaster; the title is what a user would type.
        self.load_comparison(self.uri, self.platform.context or self.platform.title, self.qm.strict)

    @work(exclusive=True, group="compare", exit_on_error=False, description="compare packages")
    async def load_comparison(self, uri: str, platform: str, strict: bool) -> None:
        targets, verdict, _comparison = await service.compare(self.qm.config, uri, platform, strict)
        self.post_message(ComparisonLoaded(targets, verdict, strict))

    @on(ComparisonLoaded)
    def _loaded(self, message: ComparisonLoaded) -> None:
        self._show(message.targets, message.verdict)

    def engine_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.query_one("#compare-summary", Static).update("load failed (r to retry)")

    def _show(self, targets: SiteTargets, verdict: TargetVerdict) -> None:
        self.targets, self.verdict, self.platform = targets, verdict, verdict.platform
        src = targets.source
        self.query_one("#compare-title", Static).update(Text.assemble(
            (targets.site.uri, "bold"), f"  {src.title} ({src.core_version or '?'}) → ",
            (verdict.platform.title, "bold"), f" ({verdict.platform.core_version or '?'})"))
        if verdict.selectable:
            line = Text.assemble(("✔ selectable", "bold green"), " for a quick migrate")
        else:
            line = Text.assemble(("✖ not selectable: ", "bold red"), "; ".join(verdict.reasons))
        self.query_one("#compare-verdict", Static).update(line)
        self._fill(rebuild=False)
        self.refresh_bindings()

    # --- table ------------------------------------------------------------------------------------

    @property
    def filter_text(self) -> str:
        return self.query_one("#compare-filter", Input).value.strip().lower()

    def visible_rows(self) -> list[ComparedPackage]:
        comparison = self.verdict.comparison if self.verdict else None
        if comparison is None:
            return []
        rows = list(comparison.rows)
        if not self.show_all:
            rows = [r for r in rows if r.verdict != "same"]
        needle = self.filter_text
        if needle:
            rows = [r for r in rows if needle in f"{r.short_name}\n{r.package_type}\n{r.verdict}".lower()]
        return rows

    def _fill(self, rebuild: bool) -> None:
        table = self.query_one("#packages", DataTable)
        rows = self.visible_rows()
        with self.app.batch_update():
            table.clear(columns=rebuild or not table.columns)
            if not table.columns:
                for key, label in NARROW_COLUMNS if self.narrow else WIDE_COLUMNS:
                    table.add_column(label, key=key)
            for r in rows:
                if self.narrow:
                    table.add_row(*narrow_cells(r), key=str(r.package_nid), height=2)
                else:
                    table.add_row(*wide_cells(r), key=str(r.package_nid))
        self._summary(len(rows))

    def _summary(self, shown: int) -> None:
        comparison = self.verdict.comparison if self.verdict else None
        if comparison is None:
            text = Text("no comparison: the site's profile is not on this platform", style="yellow")
        else:
            counts = comparison.counts
            text = Text("  ").join(Text(f"{v} {counts[v]}", style=VERDICT_STYLE[v] if counts[v] else "dim")
                                   for v in VERDICTS)
            what = "all" if self.show_all else "differences only, a: all"
            text.append(f"  ·  {shown} of {len(comparison.rows)} shown ({what})")
        self.query_one("#compare-summary", Static).update(text)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._fill(rebuild=False)

    @on(Input.Changed, "#compare-filter")
    def _filter_changed(self) -> None:
        self._fill(rebuild=False)

    @on(Input.Submitted, "#compare-filter")
    def _filter_done(self) -> None:
        self.query_one("#packages", DataTable).focus()

    def action_filter(self) -> None:
        box = self.query_one("#compare-filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#compare-filter", Input)
        box.value = ""
        box.display = False
        self.query_one("#packages", DataTable).focus()
        self._fill(rebuild=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "close_filter":
            return bool(self.query_one("#compare-filter", Input).display)
        if allowed and action == "migrate":
            return True if self.verdict is not None and self.verdict.selectable else None
        return allowed

    def action_toggle_strict(self) -> None:
        self.qm.strict = not self.qm.strict  # the watcher re-evaluates

    def action_migrate(self) -> None:
        if self.targets is None or self.verdict is None or self.qm.read_only or not self.verdict.selectable:
            return
        self.post_message(MigrateRequested(self.targets.site, self.verdict.platform, self.qm.strict))
