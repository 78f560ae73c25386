"""Pilot tests of the browsing screens against a real hostmaster database (see conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, OptionList, Static
from tui_helpers import open_compare, open_site, plain, select_target, settle, table_keys

from qm_tui.app import QmApp
from qm_tui.config import load_config
from qm_tui.screens.compare import CompareScreen
from qm_tui.screens.confirm import MigrateConfirm
from qm_tui.screens.help import HelpScreen
from qm_tui.screens.messages import InventoryLoaded, MigrateRequested, OpenSite, TargetsLoaded
from qm_tui.screens.site import SiteScreen
from qm_tui.screens.sites import SitesScreen

SIZE = (120, 36)


def visible_uris(app: QmApp) -> list[str]:
    screen = app.screen
    assert isinstance(screen, SitesScreen)
    return [row.cells[0] for row in screen.table.rows]


def live_uris(world) -> set[str]:
    return {s.uri for s in world.sites if s.status != -2}


# --- Sites ----------------------------------------------------------------------------------------


async def test_sites_lists_live_sites_sorted_by_uri(make_app, lab_world) -> None:
    messages: list[object] = []
    app = make_app()
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        uris = visible_uris(app)
        assert set(uris) == live_uris(lab_world)
        assert uris == sorted(uris, key=str.lower)
        assert "deleted-d7.lab.test" not in uris
        assert any(isinstance(m, InventoryLoaded) for m in messages)


async def test_filter_narrows_rows_as_you_type(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        total = len(visible_uris(app))
        await pilot.press("slash")
        box = app.screen.query_one("#sites-filter", Input)
        assert box.display and box.has_focus
        await pilot.press("d", "1")
        d1 = visible_uris(app)
        assert 0 < len(d1) < total
        await pilot.press("0")
        # "d10" matches the uri of the D10 sites and the acme_d10 profile of custom-d10.
        assert sorted(visible_uris(app)) == ["cluster-d10.lab.test", "custom-d10.lab.test",
                                             "minimal-d10.lab.test", "web4-d10.lab.test"]
        await pilot.press("backspace", "backspace", "backspace", *"LEGACY LTD")  # client, any case
        assert sorted(visible_uris(app)) == ["legacy-d6.lab.test", "locked-d7.lab.test",
                                             "offline-d6.lab.test", "web4-d9.lab.test"]
        await pilot.press("escape")  # clears and closes the filter
        assert not box.display and box.value == ""
        assert len(visible_uris(app)) == total


async def test_sort_cycles_columns_and_reverses(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SitesScreen)
        await pilot.press("s")
        assert screen.sort_column == "status"
        statuses = [row.cells[1] for row in screen.table.rows]
        order = {"disabled": -1, "queued": 0, "enabled": 1}  # hosting_site.status values
        assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
        assert statuses[0] == "disabled"
        await pilot.press("s")
        assert screen.sort_column == "platform"
        platforms = [row.cells[2].lower() for row in screen.table.rows]
        assert platforms == sorted(platforms)
        await pilot.press("S")
        platforms = [row.cells[2].lower() for row in screen.table.rows]
        assert platforms == sorted(platforms, reverse=True)
        # A click on a header sorts by that column; a second click reverses.
        await pilot.click("#sites", offset=(1, 0))
        assert (screen.sort_column, screen.sort_reverse) == ("uri", False)
        await pilot.pause(0.6)  # not a double click
        await pilot.click("#sites", offset=(1, 0))
        assert (screen.sort_column, screen.sort_reverse) == ("uri", True)
        uris = visible_uris(app)
        assert uris == sorted(uris, key=str.lower, reverse=True)


async def test_toggle_deleted_and_platform_sidebar(make_app, lab_world) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert app.show_deleted
        assert "deleted-d7.lab.test" in visible_uris(app)
        await pilot.press("d")
        await settle(pilot)
        assert "deleted-d7.lab.test" not in visible_uris(app)

        await pilot.press("p")
        sidebar = app.screen.query_one("#platforms", OptionList)
        assert sidebar.display and sidebar.has_focus
        index = next(i for i in range(sidebar.option_count)
                     if str(sidebar.get_option_at_index(i).prompt).startswith("drupal-6.38 "))
        sidebar.highlighted = index
        await pilot.press("enter")  # choose: focus goes back to the table, the narrowing stays
        assert sorted(visible_uris(app)) == ["legacy-d6.lab.test", "offline-d6.lab.test"]
        assert app.screen.table.has_focus


async def test_palette_opens_a_site(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"web4-d9")
        await pilot.pause(0.3)  # the palette searches in the background, debounced
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SiteScreen)
        assert app.screen.uri == "web4-d9.lab.test"


# --- Site -----------------------------------------------------------------------------------------


async def test_open_site_lists_targets_with_reasons(make_app, lab_world) -> None:
    eligible = lab_world.cases["eligible"]
    messages: list[object] = []
    app = make_app()
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        screen = await open_site(pilot, eligible.site)
        assert any(isinstance(m, OpenSite) and m.uri == eligible.site for m in messages)
        assert any(isinstance(m, TargetsLoaded) for m in messages)
        assert screen.targets is not None
        site = screen.targets.site
        assert site.uri == eligible.site and site.platform != eligible.target
        table = screen.query_one("#targets", DataTable)
        # Every platform but the site's own is listed once.
        others = {p.title for p in lab_world.platforms if p.nid != site.platform_nid}
        titles = {table.get_row(k)[0] for k in table_keys(table)}
        assert titles == others
        # Selectable rows first.
        oks = [str(table.get_row(k)[3]) for k in table_keys(table)]
        assert oks == sorted(oks, key=lambda v: v != "yes")

        await select_target(pilot, eligible.target)
        reasons = plain(screen.query_one("#target-reasons", Static))
        assert "can be quick-migrated" in reasons

        locked = lab_world.cases["platform-locked"]
        assert locked.site == eligible.site
        await select_target(pilot, locked.target)
        row = table.get_row(table_keys(table)[table.cursor_row])
        assert str(row[3]) == "no" and "platform is locked" in row[-1]
        assert "platform is locked" in plain(screen.query_one("#target-reasons", Static))

        web = lab_world.cases["web-server"]
        await select_target(pilot, web.target)
        assert "served by web server" in plain(screen.query_one("#target-reasons", Static))


async def test_strict_toggle_changes_selectability(make_app, lab_world) -> None:
    case = lab_world.cases["missing-strict"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_site(pilot, case.site)
        await select_target(pilot, case.target)
        assert not app.strict
        verdict = screen.cursor_verdict
        assert verdict is not None and verdict.selectable and verdict.counts["missing"] > 0

        await pilot.press("t")
        await settle(pilot)
        assert app.strict and screen.query_one("#strict").value is True
        verdict = screen.cursor_verdict  # the cursor stays on the same platform across the reload
        assert verdict is not None and verdict.platform.title == case.target
        assert not verdict.selectable
        assert any("strict mode" in r for r in verdict.reasons)

        await pilot.click("#strict")  # the switch does the same as t
        await settle(pilot)
        assert not app.strict
        assert screen.cursor_verdict is not None and screen.cursor_verdict.selectable


async def test_migrate_request_and_read_only(make_app, lab_world) -> None:
    eligible = lab_world.cases["eligible"]
    messages: list[object] = []
    app = make_app()
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        screen = await open_site(pilot, eligible.site)
        await select_target(pilot, eligible.target)
        assert "m" in screen.active_bindings
        await pilot.press("m")
        await pilot.pause()
        # The hook sees a bubbling message once per node it passes (screen, then app).
        requests = list({id(m): m for m in messages if isinstance(m, MigrateRequested)}.values())
        assert len(requests) == 1
        assert requests[0].site.uri == eligible.site and requests[0].platform.title == eligible.target
        assert isinstance(app.screen, MigrateConfirm)  # the Confirm modal (tests/tui/test_tui_confirm.py)
        await pilot.press("escape")

    ro = make_app(read_only=True)
    messages.clear()
    async with ro.run_test(size=SIZE, message_hook=messages.append) as pilot:
        screen = await open_site(pilot, eligible.site)
        await select_target(pilot, eligible.target)
        assert "m" not in screen.active_bindings  # hidden, not just disabled
        await pilot.press("m")
        await pilot.pause()
        assert not any(isinstance(m, MigrateRequested) for m in messages)
        assert "read-only" in ro.sub_title
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(ro.screen, CompareScreen) and ro.screen.verdict is not None
        assert ro.screen.verdict.selectable and "m" not in ro.screen.active_bindings


# --- Compare --------------------------------------------------------------------------------------


async def test_compare_toggle_all_and_filter(make_app, lab_world) -> None:
    case = lab_world.cases["verdict-error"]  # verdicts-d7 -> drupal-7.101-c: every verdict at once
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, case.site, case.target)
        assert screen.verdict is not None and screen.verdict.comparison is not None
        rows = screen.verdict.comparison.rows
        table = screen.query_one("#packages", DataTable)
        diffs = [r for r in rows if r.verdict != "same"]
        assert table.row_count == len(diffs) > 0
        assert {r.verdict for r in diffs} == {"error", "missing", "absent-disabled", "downgrade", "upgrade"}
        summary = plain(screen.query_one("#compare-summary", Static))
        for verdict in ("error", "missing", "absent-disabled", "downgrade", "upgrade", "same"):
            assert verdict in summary
        assert "not selectable" in plain(screen.query_one("#compare-verdict", Static))

        await pilot.press("a")
        assert table.row_count == len(rows)
        await pilot.press("a")
        assert table.row_count == len(diffs)

        await pilot.press("slash", *"path")
        assert screen.query_one("#compare-filter", Input).has_focus
        names = {str(table.get_row(k)[0]) for k in table_keys(table)}
        assert names and all("path" in n for n in names)
        await pilot.press("escape")
        assert table.row_count == len(diffs)


async def test_compare_without_the_profile_on_the_target(make_app, lab_world) -> None:
    case = lab_world.cases["profile-absent"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, case.site, case.target)
        assert screen.verdict is not None and screen.verdict.comparison is None
        assert screen.query_one("#packages", DataTable).row_count == 0
        assert "profile is not on this platform" in plain(screen.query_one("#compare-summary", Static))
        assert "not on this platform" in plain(screen.query_one("#compare-verdict", Static))
        await pilot.press("r")  # a refresh re-reads the same answer from the database
        await settle(pilot)
        assert screen.verdict is not None and screen.verdict.comparison is None


async def test_compare_narrow_layout_stacks_versions(make_app, lab_world) -> None:
    case = lab_world.cases["eligible"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, case.site, case.target)
        table = screen.query_one("#packages", DataTable)
        assert len(table.columns) == 8 and not screen.has_class("-narrow")
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert screen.has_class("-narrow") and len(table.columns) == 4
        assert all(row.height == 2 for row in table.ordered_rows)
        await pilot.resize_terminal(*SIZE)
        await settle(pilot)
        assert len(table.columns) == 8


# --- help, back, quit, errors ---------------------------------------------------------------------


async def test_help_lists_screen_and_global_keys(make_app, lab_world) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        local = plain(app.screen.query_one("#help-screen-keys", Static))
        global_ = plain(app.screen.query_one("#help-global-keys", Static))
        for text in ("Filter", "Sort", "Platforms", "Deleted", "Refresh", "Open site"):
            assert text in local
        for text in ("Quit", "Help", "Commands"):
            assert text in global_
        await pilot.press("escape")
        assert isinstance(app.screen, SitesScreen)

        case = lab_world.cases["eligible"]
        await open_compare(pilot, case.site, case.target)
        await pilot.press("question_mark")
        local = plain(app.screen.query_one("#help-screen-keys", Static))
        assert "All/diff" in local and "Strict" in local
        assert "Back" in plain(app.screen.query_one("#help-global-keys", Static))
        await pilot.press("question_mark")
        assert isinstance(app.screen, CompareScreen)


async def test_escape_goes_back_and_ctrl_q_quits(make_app, lab_world) -> None:
    case = lab_world.cases["eligible"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_compare(pilot, case.site, case.target)
        await pilot.press("escape")
        assert isinstance(app.screen, SiteScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, SitesScreen)
        await pilot.press("escape")  # nothing above the start screen: stays
        assert isinstance(app.screen, SitesScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0
    assert not app.is_running


async def test_database_error_is_a_notification_not_a_crash(tui_config, tmp_path: Path) -> None:
    data = yaml.safe_load(tui_config.path.read_text())
    data["hostmaster"]["db"]["password"] = "wrong"
    path = tmp_path / "bad.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(data, fh)
    app = QmApp(load_config(path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.is_running
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "login refused" in errors[0].message
        assert "load failed" in plain(app.screen.query_one("#sites-status", Static))
        await pilot.press("r")  # retry fails the same way, still no crash
        await settle(pilot)
        assert app.is_running
