"""The base of every confirmation modal: it owns the centering, the box and the button row.

A modal that subclasses :class:`ModalDialog` and puts its content in a ``.modal-box`` container is
centered on the screen, whatever its class name: app.tcss lists no modal by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button

__all__ = ["ModalDialog", "preflight_verdict", "proceed_row", "step_lines"]

ResultType = TypeVar("ResultType")


class ModalDialog(ModalScreen[ResultType]):
    """A centered box (``.modal-box``) with a body (``.modal-body``) and a right-aligned button row
    (``.modal-buttons``); subclasses style only what is their own (in their ``DEFAULT_CSS``).
    """

    DEFAULT_CSS = """
    ModalDialog {
        align: center middle;
    }

    ModalDialog .modal-box {
        width: 76;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: round $error;
        background: $surface;
        padding: 0 1;
    }

    ModalDialog .modal-body {
        margin-top: 1;
    }

    ModalDialog .modal-buttons {
        height: 1;
        margin-top: 1;
        align-horizontal: right;
        & Button { margin-left: 2; }
    }
    """


def proceed_row(prefix: str, proceed: str, label: str) -> Horizontal:
    """A typed confirm's buttons: ``#<prefix>-cancel``, and ``#<prefix>-<proceed>`` disabled until the
    confirm is complete (the screen enables it)."""
    return Horizontal(Button("Cancel", id=f"{prefix}-cancel", compact=True),
                      Button(label, id=f"{prefix}-{proceed}", variant="error", disabled=True, compact=True),
                      classes="modal-buttons")


def preflight_verdict(problems: Sequence[str] | None) -> RenderableType:
    """What a confirm shows of the preflight: every refusal, or that it passed (``None``: still running)."""
    if problems:
        return Group(Text("Preflight refused, nothing changed:", style="bold red"),
                     *(Text(f"  • {p}") for p in problems))
    return Text("✔ preflight ok", style="green") if problems is not None else Text("")


def step_lines(steps: Sequence[object]) -> list[Text]:
    """A plan's steps, numbered, with the host each runs on."""
    return [Text(f"{len(steps)} steps:", style="bold")] + [
        Text(f"{i:2}. [{s.host}] {s.title}") for i, s in enumerate(steps, 1)]  # type: ignore[attr-defined]
