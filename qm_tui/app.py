"""The Textual application (screens live in ``qm_tui.screens``)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from .config import Config


class QmApp(App[int]):
    TITLE = "qm-tui"

    def __init__(self, config: Config, read_only: bool = False) -> None:
        super().__init__()
        self.config = config
        self.read_only = read_only
        self.sub_title = config.title or config.hostmaster.server

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Hostmaster: {self.config.hostmaster.server}", id="placeholder")
        yield Footer()


def run_app(config: Config, read_only: bool = False) -> int:
    return QmApp(config, read_only=read_only).run() or 0
