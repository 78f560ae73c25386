"""Command palette source: jump to a site by typing part of its URI."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import Hit, Hits, Provider

from .messages import OpenSite

if TYPE_CHECKING:
    from ..app import QmApp

__all__ = ["SiteCommands"]

MAX_HITS = 50  # the palette shows a screenful; more only costs time on 10,000 sites


class SiteCommands(Provider):
    """``open <uri>`` for every loaded site whose URI contains the query.

    A substring test first (cheap on 10,000 sites), then Textual's fuzzy matcher only on those hits
    for ranking and highlighting. Nothing on an empty query: ``discover`` must stay fast.
    """

    async def search(self, query: str) -> Hits:
        app = cast("QmApp", self.app)
        inv = app.inventory
        needle = query.strip().lower()
        if inv is None or not needle:
            return
        matcher = self.matcher(query)
        found = 0
        for site in inv.sites:
            if needle not in site.uri.lower():
                continue
            score = matcher.match(site.uri) or 0.01
            yield Hit(score, matcher.highlight(site.uri), partial(app.post_message, OpenSite(site.uri)),
                      text=site.uri, help=f"Open site · {site.platform} · {site.status.label}")
            found += 1
            if found >= MAX_HITS:
                return
