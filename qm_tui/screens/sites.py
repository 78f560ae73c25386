"""Sites screen: every site of the hostmaster, filter-as-you-type, sort, narrow by platform; pick sites
(space, ``*`` every one shown) and batch-migrate them (``b``; with none picked: the platform narrowed to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from ..engine import service
from ..engine.model import Inventory, Site, SiteStatus
from ..engine.versions import version_sort_key
from ..widgets.vtable import VColumn, VirtualTable, VRow
from .base import EngineScreen, fmt_date
from .messages import BatchRequested, InventoryLoaded, OpenSite

__all__ = ["SitesScreen"]

COLUMNS = (
    # Narrow terminals lose Fronts (the Site screen shows them), then squeeze the free-text columns.
    VColumn("uri", "URI", max_width=44, min_width=18, shrink=1),
    VColumn("status", "Status", max_width=9, min_width=6, shrink=2),
    VColumn("platform", "Platform", max_width=28, min_width=12, shrink=3),
    VColumn("core", "Core", max_width=10, min_width=6, shrink=2),
    VColumn("fronts", "Fronts", max_width=36, min_width=8, shrink=6, hide_below=110),
    VColumn("profile", "Profile", max_width=16, min_width=8, shrink=4),
    VColumn("client", "Client", max_width=20, min_width=8, shrink=5),
    VColumn("verified", "Verified", max_width=10, min_width=10),
)
SORT_ORDER = tuple(c.key for c in COLUMNS)
ALL_PLATFORMS = "all"

STATUS_STYLE = {
    SiteStatus.ENABLED: "",
    SiteStatus.DISABLED: "yellow",
    SiteStatus.QUEUED: "italic",
    SiteStatus.DELETED: "dim strike",
}


@dataclass(frozen=True, slots=True)
class _Entry:
    """One site, pre-rendered once per load so a keystroke only filters a list."""

    site: Site
    row: VRow
    hay: str  # lower-case uri/platform/profile/client, searched by substring
    keys: tuple[Any, ...]  # sort key per column, in COLUMNS order


def _entries(inv: Inventory) -> list[_Entry]:
    by_nid = {p.nid: p for p in inv.platforms}
    # version_sort_key parses on every comparison: rank the few distinct core versions once.
    cores = sorted({p.core_version or "" for p in inv.platforms}, key=version_sort_key)
    core_rank = {v: i for i, v in enumerate(cores)}
    out: list[_Entry] = []
    for s in inv.sites:
        p = by_nid.get(s.platform_nid)
        core = (p.core_version if p else None) or ""
        fronts = ", ".join(s.fronts)
        cells = (s.uri, s.status.label, s.platform, core or "?", fronts or "-", s.profile or "-",
                 s.client or "-", fmt_date(s.verified))
        styles = ("", STATUS_STYLE[s.status], "", "", "", "", "", "")
        row = VRow(s.nid, cells, "dim" if s.status == SiteStatus.DELETED else "", styles)
        hay = "\n".join((s.uri, s.platform, s.profile or "", s.client or "")).lower()
        keys = (s.uri.lower(), int(s.status), s.platform.lower(), core_rank.get(core, 0),
                fronts.lower(), (s.profile or "").lower(), (s.client or "").lower(), s.verified)
        out.append(_Entry(s, row, hay, keys))
    return out


class SitesScreen(EngineScreen):
    """The start screen. Data: one ``service.load`` per refresh, everything else is in memory."""

    BINDING_GROUP_TITLE = "Sites"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="sites.filter"),
        Binding("escape", "close_filter", "Clear filter", id="sites.close-filter", show=False),
        Binding("s", "sort_next", "Sort", id="sites.sort"),
        Binding("S", "sort_reverse", "Reverse sort", id="sites.sort-reverse", show=False),
        Binding("p", "platforms", "Platforms", id="sites.platforms"),
        # Off the footer so that "R Runs" and "? Help" fit in 80 columns; help and the palette list it.
        Binding("d", "toggle_deleted", "Deleted", id="sites.toggle-deleted", show=False,
                tooltip="Deleted sites: show or hide"),
        Binding("r", "reload", "Refresh", id="sites.refresh"),
        Binding("enter", "open", "Open site", id="sites.open", show=False),
        Binding("space", "toggle_pick", "Pick", id="sites.pick", show=False,
                tooltip="Pick or unpick the site under the cursor (for a batch)"),
        Binding("asterisk", "pick_shown", "Pick all shown", id="sites.pick-shown", show=False, key_display="*",
                tooltip="Pick every site shown (again: unpick them)"),
        Binding("b", "batch", "Batch", id="sites.batch",
                tooltip="Batch migrate: the picked sites, or every enabled site of the platform shown"),
        Binding("R", "app.runs", "Runs", id="sites.runs",
                tooltip="Runs: migration history (attach, resume, roll back)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[_Entry] = []
        self._by_nid: dict[int, Site] = {}
        self.picked: set[int] = set()  # nids of the sites picked for a batch; they survive filters and reloads
        self._sorted: dict[tuple[str, bool], list[_Entry]] = {}
        self._platform: int | None = None
        self.sort_column = "uri"
        self.sort_reverse = False
        self.loaded = False
        self._loading = False
        self._failed: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="sites-body"):
            yield OptionList(id="platforms", classes="sidebar")
            with Vertical(id="sites-main"):
                yield Input(placeholder="filter uri, platform, profile, client", id="sites-filter",
                            compact=True)
                yield Static("", id="sites-status", classes="status-line")
                yield VirtualTable(COLUMNS, id="sites")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#sites-filter", Input).display = False
        self.query_one("#platforms", OptionList).display = False
        self.table.set_sort_indicator(self.sort_column, self.sort_reverse)
        self.table.focus()
        # The sites list follows the app-wide "show deleted" switch (key d, or the palette).
        self.watch(self.qm, "show_deleted", lambda _value: self.action_reload(), init=False)
        self.action_reload()

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#sites", VirtualTable)

    @property
    def filter_text(self) -> str:
        return self.query_one("#sites-filter", Input).value.strip().lower()

    # --- engine -----------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self._loading, self._failed = True, None
        self._update_status()
        self.load_inventory(self.qm.show_deleted)

    @work(exclusive=True, group="inventory", exit_on_error=False, description="load the sites")
    async def load_inventory(self, include_deleted: bool) -> None:
        snapshot = await service.load(self.qm.config, include_deleted=include_deleted)
        self.post_message(InventoryLoaded(snapshot, include_deleted))

    @on(InventoryLoaded)
    def _loaded(self, message: InventoryLoaded) -> None:
        inv = message.snapshot.inventory
        self.qm.inventory = inv
        self._entries = _entries(inv)
        self._by_nid = {e.site.nid: e.site for e in self._entries}
        self.picked &= self._by_nid.keys()  # a site gone from the hostmaster cannot stay picked
        self.table.set_marked(frozenset(self.picked))
        self._sorted.clear()
        self._loading, self.loaded = False, True
        self.table.measure([e.row for e in self._entries])
        self._fill_platforms(inv)
        self.apply()

    def engine_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self._loading, self._failed = False, "load failed (r to retry)"
        self._update_status()

    # --- filtering and sorting --------------------------------------------------------------------

    def _ordered(self) -> list[_Entry]:
        """Entries in the current sort order; each order is computed once per load."""
        cache_key = (self.sort_column, self.sort_reverse)
        ordered = self._sorted.get(cache_key)
        if ordered is None:
            i = SORT_ORDER.index(self.sort_column)
            ordered = sorted(self._entries, key=lambda e: (e.keys[0], e.site.nid))
            ordered.sort(key=lambda e: e.keys[i], reverse=self.sort_reverse)  # stable: ties by uri
            self._sorted[cache_key] = ordered
        return ordered

    def visible_entries(self) -> list[_Entry]:
        entries = self._ordered()
        if self._platform is not None:
            entries = [e for e in entries if e.site.platform_nid == self._platform]
        needle = self.filter_text
        if needle:
            entries = [e for e in entries if needle in e.hay]
        return entries

    def apply(self) -> None:
        """Re-fill the table from the cached rows (a list comprehension; the table paints lazily)."""
        self.table.set_rows([e.row for e in self.visible_entries()])
        self._update_status()

    def _update_status(self) -> None:
        parts: list[str] = []
        if self.loaded:
            parts.append(f"{self.table.row_count} of {len(self._entries)} sites")
        if self.picked:
            parts.append(f"{len(self.picked)} picked (b: batch)")
        if self._platform is not None:
            title = next((e.site.platform for e in self._entries if e.site.platform_nid == self._platform),
                         f"#{self._platform}")
            parts.append(f"platform {title}")
        if self.filter_text:
            parts.append(f"filter “{self.filter_text}”")
        parts.append("deleted shown" if self.qm.show_deleted else "deleted hidden")
        if self._loading:
            parts.append(self.loading_text)
        if self._failed:
            parts.append(self._failed)
        self.query_one("#sites-status", Static).update(" · ".join(parts))

    @on(Input.Changed, "#sites-filter")
    def _filter_changed(self) -> None:
        self.apply()

    @on(Input.Submitted, "#sites-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_filter(self) -> None:
        box = self.query_one("#sites-filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#sites-filter", Input)
        box.value = ""
        box.display = False
        self.table.focus()
        self.apply()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "close_filter":
            # Only while a filter is open; otherwise escape falls through to the app's "back".
            return bool(self.query_one("#sites-filter", Input).display)
        return allowed

    def _sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self.table.set_sort_indicator(column, reverse)
        self.apply()

    def action_sort_next(self) -> None:
        nxt = SORT_ORDER[(SORT_ORDER.index(self.sort_column) + 1) % len(SORT_ORDER)]
        self._sort(nxt, False)

    def action_sort_reverse(self) -> None:
        self._sort(self.sort_column, not self.sort_reverse)

    @on(VirtualTable.HeaderSelected, "#sites")
    def _header_clicked(self, event: VirtualTable.HeaderSelected) -> None:
        same = event.column_key == self.sort_column
        self._sort(event.column_key, not self.sort_reverse if same else False)

    # --- platforms sidebar ------------------------------------------------------------------------

    def _fill_platforms(self, inv: Inventory) -> None:
        counts: dict[int, int] = {}
        for s in inv.sites:
            counts[s.platform_nid] = counts.get(s.platform_nid, 0) + 1
        sidebar = self.query_one("#platforms", OptionList)
        options = [Option(f"All platforms ({len(inv.sites)})", id=ALL_PLATFORMS)]
        options += [Option(f"{p.title} ({counts.get(p.nid, 0)})", id=str(p.nid))
                    for p in sorted(inv.platforms, key=lambda p: (p.title.lower(), p.nid))]
        if self._platform is not None and self._platform not in {p.nid for p in inv.platforms}:
            self._platform = None
        with self.app.batch_update():
            sidebar.clear_options()
            sidebar.add_options(options)
            sidebar.highlighted = sidebar.get_option_index(
                ALL_PLATFORMS if self._platform is None else str(self._platform))

    def action_platforms(self) -> None:
        sidebar = self.query_one("#platforms", OptionList)
        sidebar.display = not sidebar.display
        (sidebar if sidebar.display else self.table).focus()

    @on(OptionList.OptionHighlighted, "#platforms")
    def _platform_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        wanted = None if event.option_id in (None, ALL_PLATFORMS) else int(event.option_id)
        if wanted != self._platform:
            self._platform = wanted
            self.apply()

    @on(OptionList.OptionSelected, "#platforms")
    def _platform_chosen(self) -> None:
        self.table.focus()

    def select_platform(self, nid: int | None) -> None:
        """Narrow to one platform (None: all), as picking it in the sidebar does."""
        sidebar = self.query_one("#platforms", OptionList)
        sidebar.highlighted = sidebar.get_option_index(ALL_PLATFORMS if nid is None else str(nid))

    # --- actions ----------------------------------------------------------------------------------

    def action_toggle_deleted(self) -> None:
        self.qm.show_deleted = not self.qm.show_deleted  # the watcher reloads

    def action_open(self) -> None:
        self._open(self.table.cursor_key)

    @on(VirtualTable.RowSelected, "#sites")
    def _row_selected(self, event: VirtualTable.RowSelected) -> None:
        self._open(event.key)

    def _open(self, key: int | str | None) -> None:
        site = self._by_nid.get(key) if isinstance(key, int) else None
        if site is not None:
            self.post_message(OpenSite(site.uri))

    # --- picking and batches ----------------------------------------------------------------------

    def _set_picked(self, picked: set[int]) -> None:
        self.picked = picked
        self.table.set_marked(frozenset(picked))
        self._update_status()

    def clear_picked(self) -> None:
        self._set_picked(set())

    def action_toggle_pick(self) -> None:
        key = self.table.cursor_key
        if not isinstance(key, int):
            return
        self._set_picked(self.picked ^ {key})
        self.table.action_cursor(1)  # space, space, space picks a run of sites

    def action_pick_shown(self) -> None:
        shown = {e.site.nid for e in self.visible_entries()}
        self._set_picked(self.picked - shown if shown <= self.picked else self.picked | shown)

    def action_batch(self) -> None:
        inv = self.qm.inventory
        if inv is None:
            return
        by_nid = {p.nid: p for p in inv.platforms}
        if self.picked:
            sites = sorted((self._by_nid[n] for n in self.picked), key=lambda s: s.uri)
            sources = sorted({s.platform for s in sites})
            if len(sources) > 1:
                self.notify(f"a batch moves the sites of one platform; the picked ones are on {', '.join(sources)}",
                            title="Batch", severity="warning", timeout=8)
                return
            source = by_nid.get(sites[0].platform_nid)
            uris = tuple(s.uri for s in sites)
        else:
            source, uris = by_nid.get(self._platform) if self._platform is not None else None, ()
        if source is None:
            self.notify("pick sites (space, * for every one shown) or narrow to a platform (p), then b",
                        title="Batch", timeout=6)
            return
        self.post_message(BatchRequested(source, uris))
