"""The live step tree of a run: one branch per host (the hostmaster first), one leaf per step.

Built once from the journaled plan; afterwards only ``set_label`` is called, and only for a label whose
text changed, so a poll repaints the few lines that moved (``Tree.add`` would rebuild every line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..engine.journal import StepRecord
from ..engine.states import Phase, StepState, UndoState, effective

__all__ = ["StepTree", "fmt_elapsed", "step_icon"]

# (icon, style) for a step's do-state, then for its undo-state (which wins once a rollback touched it).
DO_ICONS: dict[str, tuple[str, str]] = {
    StepState.PENDING: ("·", "dim"),
    StepState.STARTED: ("▶", "bold yellow"),
    StepState.OK: ("✔", "green"),
    StepState.FAILED: ("✖", "bold red"),
    StepState.UNKNOWN: ("?", "bold magenta"),
    StepState.SKIPPED: ("–", "dim"),
}
UNDO_ICONS: dict[str, tuple[str, str]] = {
    UndoState.STARTED: ("↺", "bold yellow"),
    UndoState.OK: ("↶", "cyan"),
    UndoState.FAILED: ("✖", "bold red"),
    UndoState.UNKNOWN: ("?", "bold magenta"),
    UndoState.SKIPPED: ("–", "dim"),
}
UNDO_WORDS = {UndoState.STARTED: "undoing", UndoState.OK: "undone", UndoState.FAILED: "undo failed",
              UndoState.UNKNOWN: "undo unknown", UndoState.SKIPPED: "undo skipped"}
#: Do or undo states that make a step (and its host's branch) show red.
BAD = (StepState.FAILED, StepState.UNKNOWN)
#: Do states counted in a host's progress (n/total).
DONE = (StepState.OK, StepState.SKIPPED)


def fmt_elapsed(seconds: float | None) -> str:
    """Whole seconds: 7s, 1m05s, 2h03m (a label changes at most once a second)."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def step_icon(step: StepRecord) -> tuple[str, str]:
    view = effective(step)
    return (UNDO_ICONS if view.phase == Phase.UNDO else DO_ICONS).get(view.stored, ("?", ""))


def _bad(step: StepRecord) -> bool:
    """Its do or its undo failed, or left an unknown outcome."""
    return step.state in BAD or step.undo_state in BAD


def step_label(step: StepRecord, now: float) -> Text:
    view = effective(step)
    icon, style = step_icon(step)
    text = Text.assemble((icon, style), " ", step.title or step.name)
    if view.phase == Phase.UNDO:
        text.append(f" ({UNDO_WORDS.get(view.stored, view.stored)})", style="italic")
    elapsed = view.elapsed(now)
    if elapsed is not None:
        text.append(f"  {fmt_elapsed(elapsed)}", style="dim")
    if step.detail and _bad(step):
        text.append(f"  {step.detail}", style="red")
    return text


class StepTree(Tree[int]):
    """Hosts as branches, steps (keyed by their seq) as leaves."""

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:  # noqa: A002
        super().__init__("steps", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.clock = clock
        self._leaves: dict[int, TreeNode[int]] = {}
        self._branches: dict[str, TreeNode[int]] = {}
        self._host_names: dict[str, str] = {}
        self._labels: dict[int, str] = {}  # last label text per node id: skip unchanged ones
        self.built = False

    def build(self, steps: Sequence[StepRecord], master: Iterable[str]) -> None:
        """Once per run: branches in order of first use, the hostmaster's first."""
        masters = set(master)
        hosts: list[str] = []
        for s in steps:
            if s.host not in hosts:
                hosts.append(s.host)
        hosts.sort(key=lambda h: h not in masters)  # stable: the rest keep plan order
        for host in hosts:
            name = f"{host} (hostmaster)" if host in masters else host
            self._host_names[host] = name
            self._branches[host] = self.root.add(name, expand=True)
        for s in steps:
            self._leaves[s.seq] = self._branches[s.host].add_leaf(step_label(s, self.clock()), data=s.seq)
        self.built = True

    @property
    def leaves(self) -> dict[int, TreeNode[int]]:
        return self._leaves

    def branch(self, host: str) -> TreeNode[int] | None:
        return self._branches.get(host)

    def update_steps(self, steps: Sequence[StepRecord]) -> None:
        now = self.clock()
        per_host: dict[str, list[StepRecord]] = {}
        for s in steps:
            per_host.setdefault(s.host, []).append(s)
            node = self._leaves.get(s.seq)
            if node is not None:
                self._set(node, step_label(s, now))
        for host, host_steps in per_host.items():
            node = self._branches.get(host)
            if node is None:
                continue
            done = sum(s.state in DONE for s in host_steps)
            bad = any(_bad(s) for s in host_steps)
            label = Text.assemble((self._host_names[host], "bold red" if bad else "bold"),
                                  (f"  {done}/{len(host_steps)}", "dim"))
            self._set(node, label)

    def _set(self, node: TreeNode[int], label: Text) -> None:
        plain = label.markup
        if self._labels.get(node.id) != plain:
            self._labels[node.id] = plain
            node.set_label(label)
