"""Every confirmation modal is centered by its own CSS (``ModalDialog``), with or without app.tcss.

No database: each modal is pushed on a bare host app. The abort dialog (``ChooseAction``) once rendered at
the top left because app.tcss centered modals by class name and missed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App
from textual.widget import Widget

import qm_tui.app
from qm_tui.config import Config, parse_config
from qm_tui.engine.model import Platform, PlatformStatus, Site, SiteStatus
from qm_tui.screens.confirm import ChooseAction, ConfirmAction, MigrateConfirm
from qm_tui.screens.modal import ModalDialog

APP_TCSS = Path(qm_tui.app.__file__).with_name("app.tcss")

SITE = Site(nid=10, uri="shop.lab.test", status=SiteStatus.ENABLED, platform_nid=20, platform="d7-old",
            profile_nid=30, profile="standard", client=None, db_server_nid=40, db_server="db.lab.test",
            db_name="shop", verified=0, web_server="web1.lab.test", fronts=("web1.lab.test",))
TARGET = Platform(nid=21, title="d7-new", context="platform_d7new", publish_path="/var/aegir/platforms/d7-new",
                  web_server=50, web_server_title="web1.lab.test", status=PlatformStatus.ENABLED,
                  core_version="7.103", fronts=("web1.lab.test",))


def _config(tmp_path: Path) -> Config:
    data = {"hostmaster": {"db": {"user": "nobody", "name": "none"}, "server": "hostmaster"},
            "state_dir": str(tmp_path / "state")}
    return parse_config(data, tmp_path / "config.yaml")


async def _never(cfg: Config, uri: str, platform: str, strict: bool):
    """A preflight that never answers: the modal keeps its "preparing" layout, and nothing is reached."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


MODALS: dict[str, Callable[[Path], ModalDialog]] = {
    "ChooseAction": lambda _tmp: ChooseAction(
        "Abort run 20261122-040000-ab12?", "Abort and roll back, or stop without rolling back.",
        [("stop", "Stop, no rollback", "warning"), ("rollback", "Abort and roll back", "error")]),
    "ConfirmAction": lambda _tmp: ConfirmAction("Roll back run r1?", "The site goes back to d7-old.", "Roll back"),
    "MigrateConfirm": lambda tmp: MigrateConfirm(_config(tmp), SITE, TARGET, False, prepare=_never),
}


class Host(App[None]):
    """A bare app that opens one modal; ``css_path`` None: Textual's defaults and the modal's own CSS only."""

    def __init__(self, modal: ModalDialog, css_path: Path | None) -> None:
        super().__init__(css_path=css_path)
        self.modal = modal

    def on_mount(self) -> None:
        self.push_screen(self.modal)


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (60, 20)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("css", [APP_TCSS, None], ids=["app.tcss", "no-app-css"])
@pytest.mark.parametrize("name", list(MODALS))
async def test_modal_is_centered(name: str, css: Path | None, size: tuple[int, int], tmp_path: Path) -> None:
    modal = MODALS[name](tmp_path)
    app = Host(modal, css)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert app.screen is modal
        box = modal.query_one(".modal-box", Widget).region
        width, height = app.size
        left, right = box.x, width - box.right
        top, bottom = box.y, height - box.bottom
        # A real box, not the whole screen (which would be "centered" too) ...
        assert 0 < box.width < width and 0 < box.height < height, (box, app.size)
        # ... with as much room on either side, give or take the odd cell.
        assert abs(left - right) <= 1, f"{name} not centered horizontally: {box} on {width}x{height}"
        assert abs(top - bottom) <= 1, f"{name} not centered vertically: {box} on {width}x{height}"
