"""Proposed changes to the TUI, applied by monkeypatching (``bench_tui.py --experiment``).

Experiments measure a change before anyone makes it; nothing here is shipped code. The log pane
(``logview``), the immediate re-poll of full pages (``poll``) and the GC threshold (``gcthreshold``) were
measured here first and are now in the app (``qm_tui/widgets/log_view.py``, ``RunScreen.follow``,
``run_app``). What is left (comma-separated names):

* ``gcfreeze``: ``gc.freeze()`` once the Sites screen has built its rows: the 10,000 sites and their rows
  live as long as the app, and every full collection walks them. Measured with the others: nothing more.
"""

from __future__ import annotations

import gc
from typing import Any


def _gcfreeze_patch() -> None:
    from qm_tui.screens.sites import SitesScreen

    orig = SitesScreen._fill_platforms  # called once per load, after the rows are built (the @on
    # handler itself cannot be patched: Textual keeps the function it was given)

    def _fill_platforms(self: Any, inv: Any) -> None:
        orig(self, inv)
        gc.collect()
        gc.freeze()

    SitesScreen._fill_platforms = _fill_platforms


def apply(names: str) -> None:
    for name in names.split(","):
        if name == "gcfreeze":
            _gcfreeze_patch()
        elif name:
            raise SystemExit(f"unknown experiment {name!r} (gcfreeze; logview, poll and gcthreshold are shipped)")
