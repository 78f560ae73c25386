"""The demo's names and defaults, apart from its builders: the CLI's parser needs them on every run."""

from __future__ import annotations

import os
from pathlib import Path

ENV_FILE = "env.sh"
CLUSTER_ENV_FILE = "env-cluster.sh"
LAYOUTS = ("local", "cluster")
BIG_SITE_MB = 300


def default_dir() -> Path:
    """``$XDG_STATE_HOME/qm-tui/demo``, else ``~/.local/state/qm-tui/demo`` (qm-tui's default state_dir)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "qm-tui" / "demo"
