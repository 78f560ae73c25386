"""Starting a detached runner: the process that drives a run, whoever asked for it (the TUI, the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..config import Config

__all__ = ["spawn_runner"]


def spawn_runner(cfg: Config, run_id: str, argv: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m qm_tui <argv>`` in a new session (no controlling terminal: no SIGHUP), output to
    the run's directory."""
    run_dir = Path(cfg.state_dir) / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    out = run_dir / "runner.out"
    with open(out, "ab") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qm_tui", *argv, "--config", str(Path(cfg.path).resolve())],
            stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True,
        )
    return proc, out
