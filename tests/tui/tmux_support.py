"""A real terminal for end-to-end tests: one program in a private tmux server, driven by key presses.

Keys go in through ``tmux send-keys`` and the screen comes back through ``tmux capture-pane``, so the
program sees exactly what a person at a 120 × 36 xterm would type, and the test reads what they would
see. Synchronisation is always "poll the screen until it shows X" (:meth:`Tmux.wait_for`), never a
sleep alone. Imported by module name, like ``tui_helpers``.

The program runs under ``sh``, which prints its exit status when it ends (like a shell prompt coming
back) and then keeps the pane open. tmux's own ``#{pane_dead_status}`` is not used: tmux 3.3a sometimes
loses the SIGCHLD of a pane's process (seen here in about 4 runs out of 10 with a program that only
sleeps and exits; the pane then stays "dead" with no status and an unreaped zombie).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

__all__ = ["EXIT_MARK", "Screen", "Tmux", "pid_gone", "tmux_missing_reason"]

POLL = 0.1
EXIT_MARK = "[tmux_support] exited with status "
_EXIT_RE = re.compile(rf"^{re.escape(EXIT_MARK)}(\d+)$", re.M)
#: Variables of the test process that must not leak into the terminal (a tmux client inside it,
#: Textual's own test switches).
# COLUMNS/LINES override the terminal's real size in Rich and Textual; pytest-xdist workers set them to 80x24.
DROP_ENV = ("TMUX", "TMUX_PANE", "TEXTUAL", "TEXTUAL_DRIVER", "TEXTUAL_DEBUG", "TEXTUAL_DEVTOOLS_PORT", "COLUMNS",
            "LINES")

Screen = str
Cond = str | Callable[[Screen], object]


def tmux_missing_reason() -> str | None:
    return None if shutil.which("tmux") else "tmux is not installed (scripts/install-system.sh installs it)"


def pid_gone(pid: int) -> bool:
    """No such process any more, or only its zombie (it has exited; its parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Tmux:
    """A private tmux server (its own socket) with one window of a fixed size, no status bar."""

    def __init__(self, workdir: Path, width: int = 120, height: int = 36) -> None:
        self.socket = f"qmtui-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.conf = workdir / "tmux.conf"
        self.conf.write_text("set -g status off\nset -g remain-on-exit on\n")
        self.width, self.height = width, height
        self.env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        self.env.setdefault("LANG", "C.UTF-8")
        self.target = "qm:0.0"
        self.socket_path: Path | None = None
        self.shell_pid: int | None = None
        self.pid: int | None = None  # the program
        self.last: Screen = ""

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # -u: UTF-8 whatever the locale says (the screen is full of ✔ and box lines).
        return subprocess.run(["tmux", "-u", "-L", self.socket, "-f", str(self.conf), *args],
                              capture_output=True, text=True, timeout=30, check=check, env=self.env)

    def start(self, argv: Sequence[str], cwd: Path, term: str = "xterm-256color") -> None:
        """Run ``argv`` with TERM=``term``; PYTHONFAULTHANDLER so a hung Python program can be made to
        print its stacks (:meth:`fail_hung`)."""
        script = f'"$@"; echo "{EXIT_MARK}$?"; exec cat >/dev/null'
        cmd = ["sh", "-c", script, "sh", "env", f"TERM={term}", "COLORTERM=truecolor", "PYTHONFAULTHANDLER=1",
               *argv]
        self.tmux("new-session", "-d", "-s", "qm", "-x", str(self.width), "-y", str(self.height),
                  "-c", str(cwd), *cmd)
        self.socket_path = Path(self.pane_format("#{socket_path}"))
        self.shell_pid = int(self.pane_format("#{pane_pid}"))
        deadline = time.monotonic() + 10
        while not (kids := _children(self.shell_pid)):
            if time.monotonic() > deadline:
                pytest.fail(f"the program did not start; terminal:\n{self.screen(history=True)}")
            time.sleep(0.01)
        self.pid = kids[0]

    def pane_format(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.target, fmt).stdout.strip()

    def cursor(self) -> tuple[int, int]:
        """The terminal's cursor (column, row). Textual puts it on the focused Input's caret (for IMEs),
        so it shows where typing goes even though the cursor itself is hidden."""
        x, _, y = self.pane_format("#{cursor_x} #{cursor_y}").partition(" ")
        return int(x), int(y)

    def screen(self, history: bool = False) -> Screen:
        """What the terminal shows now, one line per row (-J: rows the terminal wrapped are joined);
        ``history``: with the scrollback above it (what a program printed after leaving full screen)."""
        out = self.tmux("capture-pane", "-p", "-J", *(("-S", "-") if history else ()), "-t", self.target).stdout
        self.last = "\n".join(line.rstrip() for line in out.splitlines()).rstrip("\n")  # rows stay numbered from 0
        return self.last

    def keys(self, *keys: str) -> None:
        """Key names as tmux knows them: Enter, Down, BTab, C-q, ..."""
        self.tmux("send-keys", "-t", self.target, *keys)

    def type(self, text: str) -> None:
        """Literal text (no key-name lookup)."""
        self.tmux("send-keys", "-t", self.target, "-l", text)

    @staticmethod
    def exit_status(screen: Screen) -> int | None:
        """The program's exit status once ``sh`` has printed it (128 + n: killed by signal n)."""
        m = _EXIT_RE.search(screen)
        return int(m.group(1)) if m else None

    def wait_for(self, cond: Cond, timeout: float = 15.0, what: str | None = None) -> Screen:
        """Poll the screen until it contains ``cond`` (a string) or ``cond(screen)`` is true.

        Fails with the last screen in the message, at once if the program has ended meanwhile.
        """
        check = (lambda s: cond in s) if isinstance(cond, str) else cond
        what = what or (repr(cond) if isinstance(cond, str) else getattr(cond, "__name__", "condition"))
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if self.exit_status(screen) is not None:
                pytest.fail(f"the program ended while waiting for {what}; terminal after exit:\n"
                            f"{self.screen(history=True)}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g}s waiting for {what}; last screen:\n{screen}")
            time.sleep(POLL)

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the program to end; its exit status. ``last`` then holds the terminal with its
        scrollback (what the program printed after leaving full screen)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.exit_status(self.screen())
            if status is not None:
                self.screen(history=True)
                return status
            if time.monotonic() > deadline:
                self.fail_hung(f"the program did not exit within {timeout:g}s")
            time.sleep(POLL)

    def fail_hung(self, what: str) -> None:
        """Fail with the screen, then the stacks of the hung program (SIGABRT: faulthandler prints them)."""
        screen = self.screen()
        stacks = ""
        if self.pid is not None and not pid_gone(self.pid):
            os.kill(self.pid, signal.SIGABRT)
            deadline = time.monotonic() + 5
            while self.exit_status(self.screen()) is None and time.monotonic() < deadline:
                time.sleep(POLL)
            stacks = self.screen(history=True)
        pytest.fail(f"{what}; last screen:\n{screen}\n--- after SIGABRT, with scrollback ---\n{stacks}")

    def close(self) -> None:
        """Kill the server (its pane gets SIGHUP); make sure the program is gone too."""
        self.tmux("kill-server", check=False)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)  # tmux 3.3 leaves it behind
        deadline = time.monotonic() + 10
        for pid in (p for p in (self.pid, self.shell_pid) if p is not None):
            while not pid_gone(pid) and time.monotonic() < deadline:
                time.sleep(POLL)
            if not pid_gone(pid):
                os.kill(pid, signal.SIGKILL)
