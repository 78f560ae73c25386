"""What every browsing screen shares: typed access to the app, worker error reporting, formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..errors import QmError

if TYPE_CHECKING:
    from ..app import QmApp

__all__ = ["EngineScreen", "describe_error", "fmt_date"]


def describe_error(error: BaseException | None) -> str:
    """One line for a toast: our own errors are already worded for the user, others get their type."""
    if error is None:
        return "unknown error"
    if isinstance(error, QmError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def fmt_date(ts: int | None) -> str:
    """A unix time as a UTC date; the day is enough in a list and keeps the column narrow."""
    if not ts or ts <= 0:
        return "never"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


class EngineScreen(Screen[None]):
    """A screen whose data comes from engine calls run in its own async workers.

    Workers belong to the screen, so popping it cancels them. A failing worker never ends the app
    (``exit_on_error=False`` on every ``@work``): its error becomes a notification here and the
    screen keeps the data it had.
    """

    loading_text = "loading…"
    #: Actions that change a server (migrate; later abort, rollback): gone in --read-only mode.
    DANGEROUS: ClassVar[frozenset[str]] = frozenset()

    @property
    def qm(self) -> QmApp:
        return cast("QmApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.log.error(f"worker {event.worker.name} failed", error)
            self.notify(describe_error(error), title="Hostmaster read failed", severity="error",
                        timeout=15)
            self.engine_failed(event.worker, error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide dangerous actions in read-only mode (k9s-style); subclasses add their own rules."""
        if action in self.DANGEROUS and self.qm.read_only:
            return False
        return True

    def engine_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        """Hook: clear a 'loading' state after a failed engine call."""
