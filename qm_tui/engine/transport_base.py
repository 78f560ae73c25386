"""Types and the shared run loop of the command transports (see ``transport.py`` for the overview).

A transport runs one shell command string and reports one of three outcomes: OK, FAILED (the command
certainly ran and failed) or UNKNOWN (we cannot know what it did: lost connection, timeout). Headless:
nothing here may import textual.
"""

from __future__ import annotations

import asyncio
import re
import signal
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from ..errors import QmError

T = TypeVar("T")

LineCallback = Callable[[str, str], None]  # (stream "stdout" | "stderr", line without its newline)
PgidCallback = Callable[[int], None]

OUTPUT_LIMIT = 256 * 1024  # bytes of each stream kept in a CmdResult (the tail)
LINE_LIMIT = 64 * 1024  # a longer line without a newline is passed to on_line in pieces
TAG_VAR = "QM_TUI_RUN"  # every command of a run carries its id in the environment (see sweep.py)
KILL_GRACE = 10.0  # seconds between TERM and KILL
KILL_WAIT = 5.0  # seconds to wait for a group to vanish after KILL
MAX_CHANNELS = 8  # per SSH connection; OpenSSH's MaxSessions defaults to 10


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CmdResult:
    outcome: Outcome
    exit_status: int | None  # None when killed by a signal or when the outcome is UNKNOWN
    stdout: str
    stderr: str
    pgid: int | None  # the command's process group on its host (None if never learnt)
    error: str | None  # one line for FAILED/UNKNOWN: "exit 23", "killed by SIGTERM", "connection lost"

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


class TransportError(QmError):
    """The transport could not do what was asked, and the command did not start (cannot connect,
    host key refused, login refused, no session). ``str()`` names the host and the cause."""


class StartUnsure(Exception):  # noqa: N818 - internal signal, never shown as is
    """Raised by `_launch` when the command may or may not have started (the connection died during
    the exec request): the run's outcome is UNKNOWN, with no pgid."""


def fmt_seconds(s: float) -> str:
    return f"{s:g} s"


def signal_name(sig: str | int) -> str:
    """"TERM" / 15 -> "SIGTERM"."""
    if isinstance(sig, int):
        try:
            return signal.Signals(sig).name
        except ValueError:
            return f"signal {sig}"
    return sig if sig.startswith("SIG") else f"SIG{sig}"


def check_pgid(pgid: int) -> int:
    # `kill -- -1` (or 0) would signal every process of the user: never let a bad value through.
    if not isinstance(pgid, int) or isinstance(pgid, bool) or pgid <= 1:
        raise ValueError(f"refusing to signal process group {pgid!r}")
    return pgid


def check_tag(tag: str | None) -> str | None:
    # A run id: it lands in a shell word and a grep pattern, so only plain characters.
    if tag is not None and (not tag or not all(c.isalnum() or c in "-_." for c in tag)):
        raise ValueError(f"refusing run tag {tag!r}")
    return tag


async def wait_through_cancel(task: asyncio.Future[object]) -> bool:
    """Wait until `task` is done even if we are cancelled meanwhile (cleanup must not be cut short).

    Returns whether a cancellation arrived; the caller re-raises CancelledError afterwards."""
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait({task})  # cancelling this wait never cancels the task itself
        except asyncio.CancelledError:
            interrupted = True
    return interrupted


async def complete(aw: Awaitable[T]) -> tuple[T, bool]:
    """`aw`'s result, awaited to the end through cancellations, and whether one arrived."""
    task = asyncio.ensure_future(aw)
    interrupted = await wait_through_cancel(task)
    return task.result(), interrupted


async def gather_or_cancel(*aws: Awaitable[object]) -> None:
    """Run all; on the first error (or our cancellation) cancel the rest and wait for them."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Tail:
    """The last OUTPUT_LIMIT bytes of a stream (raw, decoded once at the end)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def add(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > 2 * OUTPUT_LIMIT:  # trim rarely: amortised O(1)
            del self.buf[:-OUTPUT_LIMIT]

    def text(self) -> str:
        return bytes(self.buf[-OUTPUT_LIMIT:]).decode("utf-8", errors="replace")


_PGID_LINE = re.compile(rb"@@PGID (\d+)\r?\Z")  # searched: tolerate noise from shell start-up files


class Capture:
    """Splits both streams into lines for on_line, keeps their tails, and picks out the pgid marker.

    Decoding is per line with errors='replace': a stray non-UTF-8 byte shows as U+FFFD and never
    breaks anything (line splitting is on bytes, so a multi-byte character is never cut)."""

    def __init__(self, on_line: LineCallback | None, on_pgid: PgidCallback | None,
                 marker: bool) -> None:
        self._on_line = on_line
        self._on_pgid = on_pgid
        self._await_marker = marker  # the first "@@PGID n" stderr line is ours, not the command's
        self._tails = {"stdout": _Tail(), "stderr": _Tail()}
        self._pending = {"stdout": bytearray(), "stderr": bytearray()}
        self.pgid: int | None = None
        self.lost: str | None = None  # why the output stopped early (connection lost)

    def set_pgid(self, pgid: int) -> None:
        self.pgid = pgid
        if self._on_pgid:
            self._on_pgid(pgid)

    def feed(self, stream: str, data: bytes) -> None:
        pending = self._pending[stream]
        pending += data
        start = 0
        while (nl := pending.find(b"\n", start)) >= 0:
            self._line(stream, bytes(pending[start:nl + 1]))
            start = nl + 1
        del pending[:start]
        while len(pending) > LINE_LIMIT:
            piece = bytes(pending[:LINE_LIMIT])
            del pending[:LINE_LIMIT]
            self._line(stream, piece)

    def eof(self, stream: str) -> None:
        pending = self._pending[stream]
        if pending:
            self._line(stream, bytes(pending))
            pending.clear()

    def _line(self, stream: str, raw: bytes) -> None:
        body = raw[:-1] if raw.endswith(b"\n") else raw
        if stream == "stderr" and self._await_marker:
            m = _PGID_LINE.search(body)
            if m:
                self._await_marker = False
                self.set_pgid(int(m.group(1)))
                return
        self._tails[stream].add(raw)
        if self._on_line:
            self._on_line(stream, body.rstrip(b"\r").decode("utf-8", errors="replace"))

    def text(self, stream: str) -> str:
        return self._tails[stream].text()


class Job(ABC):
    """One started command: `pump` reads its output (and feeds stdin) until its streams close."""

    cap: Capture
    pump: asyncio.Future[None]

    @abstractmethod
    def signal(self, sig: str) -> None:
        """Send "TERM" or "KILL" to the command's group through the live handle, if there is one."""

    @abstractmethod
    def exit_info(self) -> tuple[int | None, str | None]:
        """(exit status, signal name); both None when the command's end was not observed."""

    @abstractmethod
    async def close(self) -> None:
        """Release the handle (channel, session slot). Idempotent."""


class Transport(ABC):
    """Runs shell command strings on one host. One instance per host for a whole run."""

    host: str
    is_local: bool

    def __init__(self, host: str, *, kill_grace: float = KILL_GRACE) -> None:
        self.host = host
        self.kill_grace = kill_grace

    @abstractmethod
    async def connect(self) -> None:
        """Make sure the host is reachable now (raises TransportError)."""

    async def run(self, cmd: str, *, input: str | bytes | None = None, timeout: float | None = None,
                  on_line: LineCallback | None = None, on_pgid: PgidCallback | None = None,
                  tag: str | None = None) -> CmdResult:
        """Run `cmd` (a shell string, quoted by the caller with sh_join) under `bash -o pipefail -c`.

        `tag` (a run id) is exported as $QM_TUI_RUN to the command and so to everything it starts:
        a later sweep finds them by it on the host, even after the runner that started them died.

        Raises TransportError only when the command certainly did not start. On timeout or
        cancellation the command's process group is killed (TERM, grace, KILL) before returning or
        re-raising. Exceptions raised by the callbacks also kill the command, then propagate."""
        return await self._run(cmd, input, timeout, on_line, on_pgid, verify=True, tag=check_tag(tag))

    async def _reserve(self, urgent: bool) -> object:
        """Wait for a session slot and a connection; cancellable, since nothing has started yet.

        `urgent`: for kill_group's own commands, which must not queue behind what they are to kill."""
        return None

    @abstractmethod
    async def _launch(self, slot: object, cmd: str, data: bytes | None, cap: Capture, tag: str | None) -> Job:
        """Start the command (never cancelled midway). Raise TransportError if it certainly did not
        start, StartUnsure if we cannot tell; either way after giving the slot back."""

    @abstractmethod
    async def kill_group(self, pgid: int) -> bool:
        """TERM the group, wait up to kill_grace, KILL it; True when no live process is left in it."""

    @abstractmethod
    async def write_private_file(self, path: str, data: bytes) -> None:
        """Replace `path` with `data`, mode 0600, the data never in any argv or environment."""

    @abstractmethod
    async def close(self) -> None: ...

    async def _run(self, cmd: str, input: str | bytes | None, timeout: float | None,
                   on_line: LineCallback | None, on_pgid: PgidCallback | None, *, verify: bool,
                   tag: str | None = None) -> CmdResult:
        data = input.encode() if isinstance(input, str) else input
        cap = Capture(on_line, on_pgid, marker=not self.is_local)
        slot = await self._reserve(urgent=not verify)
        # Starting is not cut short by a cancellation: a half-started command could not be killed.
        start = asyncio.ensure_future(self._launch(slot, cmd, data, cap, tag))
        cancelled = await wait_through_cancel(start)
        if cancelled and not start.cancelled() and start.exception() is None:
            await complete(self._halt(start.result(), verify))
        if cancelled:
            raise asyncio.CancelledError
        try:
            job = start.result()
        except StartUnsure as e:
            return CmdResult(Outcome.UNKNOWN, None, "", "", None, str(e))
        try:
            done, _ = await asyncio.wait({job.pump}, timeout=timeout)
        except asyncio.CancelledError:
            await complete(self._halt(job, verify))
            raise
        if not done:
            note, cancelled = await complete(self._halt(job, verify))
            if cancelled:
                raise asyncio.CancelledError
            assert timeout is not None
            return self._result(job, Outcome.UNKNOWN, None, f"timed out after {fmt_seconds(timeout)}{note}")
        exc = job.pump.exception()
        if exc is not None:  # a callback raised (the readers themselves swallow I/O errors)
            await complete(self._halt(job, verify))
            raise exc
        await job.close()
        status, sig = job.exit_info()
        if sig is not None:
            return self._result(job, Outcome.FAILED, None, f"killed by {signal_name(sig)}")
        if status is None:
            return self._result(job, Outcome.UNKNOWN, None, cap.lost or "ended without an exit status")
        if status == 0:
            return self._result(job, Outcome.OK, 0, None)
        return self._result(job, Outcome.FAILED, status, f"exit {status}")

    @staticmethod
    def _result(job: Job, outcome: Outcome, status: int | None, error: str | None) -> CmdResult:
        return CmdResult(outcome, status, job.cap.text("stdout"), job.cap.text("stderr"), job.cap.pgid, error)

    async def _halt(self, job: Job, verify: bool) -> str:
        """Stop a running command; returns "" or "; <why the group may survive>" for the message."""
        if not job.pump.done():
            job.signal("TERM")
            await asyncio.wait({job.pump}, timeout=self.kill_grace)
        if not job.pump.done():
            job.signal("KILL")
            await asyncio.wait({job.pump}, timeout=KILL_WAIT)
        if not job.pump.done():
            job.pump.cancel()
            await asyncio.gather(job.pump, return_exceptions=True)
        await job.close()
        pgid = job.cap.pgid
        if not verify:
            return ""
        if pgid is None:
            return "; its process group was never reported, it may survive"
        # The handle's signals reach the group, but a member that left the pipes (or a dead channel)
        # would not show up there: check and finish the job through a fresh session.
        try:
            gone = await self.kill_group(pgid)
        except TransportError as e:
            return f"; process group {pgid} may survive ({e})"
        return "" if gone else f"; process group {pgid} survived TERM and KILL"
