"""Filter-as-you-type over 10,000 sites gives the right rows (its speed is measured in bench/, not here).

The app runs against the lab database as usual; a synthetic 10,000-site inventory is then handed to
the Sites screen through the same ``InventoryLoaded`` message a refresh posts, so the measured path
is the real one (cached rows -> Python filter -> table -> paint of the visible lines).
"""

from __future__ import annotations

import time

from textual.widgets import Input
from tui_helpers import settle

from qm_tui.engine.inventory import Snapshot
from qm_tui.engine.model import Inventory, Platform, PlatformStatus, Site, SiteStatus
from qm_tui.screens.messages import InventoryLoaded
from qm_tui.screens.sites import SitesScreen

N_SITES = 10_000
BUDGET = 0.050  # seconds per keystroke


def big_inventory() -> Inventory:
    platforms = [
        Platform(nid=1000 + i, title=f"drupal-7.{90 + i % 10}-p{i:02d}", context=f"platform_p{i:02d}",
                 publish_path=f"/var/aegir/platforms/p{i:02d}", web_server=10 + i % 3,
                 web_server_title=f"web{i % 3}.example.test", status=PlatformStatus.ENABLED,
                 core_version=f"7.{90 + i % 10}", fronts=(f"web{i % 3}.example.test",))
        for i in range(40)
    ]
    clients = [f"Client {c:03d}" for c in range(150)]
    sites = []
    for n in range(N_SITES):
        p = platforms[n % len(platforms)]
        sites.append(Site(
            nid=10_000 + n, uri=f"site{n:05d}.{('shop', 'blog', 'intranet', 'www')[n % 4]}.example.org",
            status=SiteStatus.ENABLED if n % 50 else SiteStatus.DISABLED, platform_nid=p.nid,
            platform=p.title, profile_nid=7, profile=("standard", "minimal", "acme")[n % 3],
            client=clients[n % len(clients)], db_server_nid=5, db_server="db.example.test",
            db_name=f"site{n}", verified=1_704_067_200 + n, web_server=p.web_server_title, fronts=p.fronts))
    return Inventory(sites=sites, platforms=platforms)


async def test_filter_over_10000_sites_gives_the_right_rows(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SitesScreen)
        t0 = time.perf_counter()
        screen.post_message(InventoryLoaded(Snapshot(big_inventory(), {}, {}), False))
        await settle(pilot)
        load_seconds = time.perf_counter() - t0
        assert screen.table.row_count == N_SITES

        await pilot.press("slash")
        box = screen.query_one("#sites-filter", Input)
        table = screen.table
        timings: list[tuple[str, float]] = []
        # Broad first ("s" matches every uri), then narrowing, then widening again with backspace.
        typed = ["s", "si", "sit", "site0", "site01", "site012", "site01", "site0", "", "shop", "client 04"]
        for text in typed:
            with box.prevent(Input.Changed):  # time the handler's work once, not twice
                box.value = text
            t = time.perf_counter()
            screen.apply()
            for y in range(table.size.height):  # what the next frame paints
                table.render_line(y)
            timings.append((text, time.perf_counter() - t))
        # Timings are printed for a look (-s); the goal is measured by bench/, never asserted in a test.
        print(f"load {load_seconds:.2f} s; keystroke ms:", [(text, round(sec * 1000, 1)) for text, sec in timings])
        assert table.row_count == sum(1 for s in app.inventory.sites if "client 04" in (s.client or "").lower())

        # Sorting 10,000 rows by another column keeps every (filtered) row.
        before = table.row_count
        screen.action_sort_next()  # the filter box has the focus: "s" would be typed into it
        await settle(pilot)
        assert table.row_count == before
