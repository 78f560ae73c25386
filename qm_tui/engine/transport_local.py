"""Commands on the controller itself (single-server Aegir: the host is "localhost"), as subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from pathlib import Path

from .transport_base import (
    KILL_WAIT,
    TAG_VAR,
    Capture,
    Job,
    Transport,
    TransportError,
    check_pgid,
    gather_or_cancel,
)

_CHUNK = 65536


def group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is in group `pgid`.

    `killpg(pgid, 0)` is not enough: an orphaned zombie keeps the group "existing" for as long as
    nobody reaps it (e.g. a container whose PID 1 never calls wait)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's group: alive, and not ours to kill
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


class _LocalJob(Job):
    def __init__(self, proc: asyncio.subprocess.Process, cap: Capture, data: bytes | None) -> None:
        self.proc = proc
        self.cap = cap
        self.pump = asyncio.ensure_future(self._pump(data))

    async def _pump(self, data: bytes | None) -> None:
        proc = self.proc
        assert proc.stdout is not None and proc.stderr is not None
        self.cap.set_pgid(proc.pid)  # here, so an on_pgid that raises still gets the command killed

        async def read(stream: asyncio.StreamReader, name: str) -> None:
            while chunk := await stream.read(_CHUNK):
                self.cap.feed(name, chunk)
            self.cap.eof(name)

        async def feed() -> None:
            if proc.stdin is None:
                return
            with contextlib.suppress(OSError):  # the command may exit without reading its input
                if data:
                    proc.stdin.write(data)
                    await proc.stdin.drain()
                proc.stdin.close()

        await gather_or_cancel(read(proc.stdout, "stdout"), read(proc.stderr, "stderr"), feed())
        await proc.wait()

    def signal(self, sig: str) -> None:
        if self.proc.returncode is None or group_alive(self.proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, getattr(signal, f"SIG{sig}"))

    def exit_info(self) -> tuple[int | None, str | None]:
        rc = self.proc.returncode
        if rc is None:
            return None, None
        if rc < 0:
            return None, signal.Signals(-rc).name
        return rc, None

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()


class LocalTransport(Transport):
    """`bash -o pipefail -c cmd` in a new session, so pgid == pid and the whole group can be killed.

    Commands start in $HOME, as they do over SSH."""

    is_local = True

    async def connect(self) -> None:
        return None

    async def _launch(self, slot: object, cmd: str, data: bytes | None, cap: Capture, tag: str | None) -> Job:
        env = {k: v for k, v in os.environ.items() if k != TAG_VAR}  # an untagged command stays untagged
        if tag:
            env[TAG_VAR] = tag
        try:
            proc = await asyncio.create_subprocess_exec(
                "bash", "-o", "pipefail", "-c", cmd,
                stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, cwd=Path.home(), env=env)
        except OSError as e:
            raise TransportError(f"{self.host}: cannot start bash: {e.strerror or e}") from None
        return _LocalJob(proc, cap, data)

    async def kill_group(self, pgid: int) -> bool:
        check_pgid(pgid)
        if pgid == os.getpgrp():
            raise ValueError(f"refusing to kill our own process group {pgid}")
        for sig, wait in ((signal.SIGTERM, self.kill_grace), (signal.SIGKILL, KILL_WAIT)):
            if not group_alive(pgid):
                return True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + wait
            while group_alive(pgid) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return not group_alive(pgid)

    async def write_private_file(self, path: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(_write_private, path, data)
        except OSError as e:
            raise TransportError(f"{self.host}: cannot write {path}: {e.strerror or e}") from None

    async def close(self) -> None:
        return None


def _write_private(path: str, data: bytes) -> None:
    # A fresh 0600 file renamed over the target: the data is never readable under an old, wider mode.
    tmp = f"{path}.qm-{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
