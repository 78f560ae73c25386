"""Typed messages between the engine workers, the screens and the app.

Workers never touch widgets: they post one of the ``*Loaded`` messages to their screen. Navigation
requests bubble from a screen to the app, which owns the screen stack, so later screens (Confirm,
Run, Runs) can be wired in one place without the browsing screens knowing about them.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..engine.eligibility import TargetVerdict
from ..engine.follow import EventRow
from ..engine.inventory import Snapshot
from ..engine.journal import RunRecord
from ..engine.model import Platform, Site
from ..engine.service import SiteTargets

__all__ = [
    "BatchRequested",
    "ComparisonLoaded",
    "InventoryLoaded",
    "MigrateRequested",
    "OpenCompare",
    "OpenRun",
    "OpenRuns",
    "OpenSite",
    "PlanChecked",
    "RunPolled",
    "RunsLoaded",
    "TargetsLoaded",
]


# --- engine results (worker -> screen) ----------------------------------------------------------


class InventoryLoaded(Message):
    """``service.load`` finished."""

    def __init__(self, snapshot: Snapshot, include_deleted: bool) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.include_deleted = include_deleted


class TargetsLoaded(Message):
    """``service.targets`` finished for one site."""

    def __init__(self, targets: SiteTargets, strict: bool) -> None:
        super().__init__()
        self.targets = targets
        self.strict = strict


class ComparisonLoaded(Message):
    """``service.compare`` finished: the site, the verdict for one target and its comparison."""

    def __init__(self, targets: SiteTargets, verdict: TargetVerdict, strict: bool) -> None:
        super().__init__()
        self.targets = targets
        self.verdict = verdict
        self.strict = strict


class PlanChecked(Message):
    """``Runner.prepare`` + ``Runner.check`` finished for the Confirm modal (``prepared`` is a ``Prepared``)."""

    def __init__(self, prepared: object, problems: list[str]) -> None:
        super().__init__()
        self.prepared = prepared
        self.problems = problems


class RunPolled(Message):
    """One journal poll of the followed run: its record (None: not in the journal yet) and new output;
    ``more``: a full page of output came back, more is waiting."""

    def __init__(self, run: RunRecord | None, events: list[EventRow], note: str | None = None,
                 more: bool = False) -> None:
        super().__init__()
        self.run = run
        self.events = events
        self.note = note
        self.more = more


class RunsLoaded(Message):
    """The journal's run history for the Runs screen (and its batches)."""

    def __init__(self, runs: list[RunRecord], batches: list[Any] | None = None) -> None:
        super().__init__()
        self.runs = runs
        self.batches = batches or []


# --- navigation and intents (screen -> app) -----------------------------------------------------


class OpenSite(Message):
    """Show the Site screen of ``uri``."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri


class OpenCompare(Message):
    """Show the Compare screen; ``targets``/``verdict`` (when known) avoid a second DB round trip."""

    def __init__(self, uri: str, platform: Platform, targets: SiteTargets | None = None,
                 verdict: TargetVerdict | None = None) -> None:
        super().__init__()
        self.uri = uri
        self.platform = platform
        self.targets = targets
        self.verdict = verdict


class MigrateRequested(Message):
    """The user asked to quick-migrate ``site`` to ``platform`` (a selectable target)."""

    def __init__(self, site: Site, platform: Platform, strict: bool) -> None:
        super().__init__()
        self.site = site
        self.platform = platform
        self.strict = strict


class RenameRequested(Message):
    """The user asked to quick-rename ``site`` (same platform, new name)."""

    def __init__(self, site: Site) -> None:
        super().__init__()
        self.site = site


class BatchRequested(Message):
    """The user asked to batch-migrate sites of ``source``: the named ones, or (none named) every enabled one."""

    def __init__(self, source: Platform, sites: tuple[str, ...]) -> None:
        super().__init__()
        self.source = source
        self.sites = sites


class OpenRuns(Message):
    """Show the Runs screen (history from the journal)."""


class OpenBatch(Message):
    """Attach the Batch screen to batch ``batch_id``."""

    def __init__(self, batch_id: str) -> None:
        super().__init__()
        self.batch_id = batch_id


class OpenRun(Message):
    """Attach the Run screen to run ``run_id`` (started here, by another terminal or the CLI)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
