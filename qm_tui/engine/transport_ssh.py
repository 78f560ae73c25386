"""Commands over SSH (asyncssh): one connection per host, reused, reconnected lazily after a loss."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import secrets
import shlex
import warnings
from typing import Any

with warnings.catch_warnings():
    # cryptography >= 51 warns on import that DSA is deprecated, because asyncssh defines its DSA types; qm-tui
    # never uses DSA, and the warning would be the first line a user (or a script reading `run <ID>`) sees.
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

from ..config import SshConfig
from .safety import check_host
from .transport_base import (
    KILL_GRACE,
    KILL_WAIT,
    MAX_CHANNELS,
    TAG_VAR,
    Capture,
    Job,
    StartUnsure,
    Transport,
    TransportError,
    check_pgid,
    fmt_seconds,
    gather_or_cancel,
)

KILL_CHANNELS = 2  # the two of OpenSSH's 10 that MAX_CHANNELS leaves: kill_group must not wait for a slot
_CHUNK = 65536
_CLOSE_WAIT = 5.0  # a frozen peer never acknowledges a close: abort after this

# sshd runs `$SHELL -c <this>` in a new session (setsid), so $$ is the process group of everything
# the command starts; `exec` keeps that pid for the command itself.
_WRAP = 'echo "@@PGID $$" >&2; {tag}exec bash -o pipefail -c {cmd}'

# Live = a non-zombie member (orphaned zombies keep a group "existing" where nobody reaps them).
_KILL_SCRIPT = """pg={pgid}
alive() {{ ps -A -o pgid= -o stat= | awk -v g="$pg" '$1 == g && $2 !~ /^Z/ {{f = 1}} END {{exit !f}}'; }}
for step in "TERM {term}" "KILL {kill}"; do
  set -- $step
  alive || exit 0
  kill -"$1" -- -"$pg" 2>/dev/null
  i=0
  while alive && [ "$i" -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
done
alive && exit 1
exit 0
"""


class _KeyRecorder(asyncssh.SSHClient):
    """Remembers the host key the server offered, to name its fingerprint when we refuse it."""

    def __init__(self) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = (host, addr, port, key)
        return False  # trust comes from known_hosts only


class _SshJob(Job):
    def __init__(self, sem: asyncio.Semaphore, conn: asyncssh.SSHClientConnection,
                 proc: asyncssh.SSHClientProcess[bytes], cap: Capture, data: bytes | None) -> None:
        self._sem = sem
        self.conn = conn
        self.proc = proc
        self.cap = cap
        self._released = False
        self.pump = asyncio.ensure_future(self._pump(data))

    async def _pump(self, data: bytes | None) -> None:
        proc = self.proc

        async def read(stream: asyncssh.SSHReader[bytes], name: str) -> None:
            try:
                while chunk := await stream.read(_CHUNK):
                    self.cap.feed(name, chunk)
            except (asyncssh.Error, OSError) as e:  # ConnectionLost while the connection drops
                self.cap.lost = self.cap.lost or _lost(e)
            self.cap.eof(name)

        async def feed() -> None:
            with contextlib.suppress(asyncssh.Error, OSError):  # the command may not read its input
                if data:
                    proc.stdin.write(data)
                    await proc.stdin.drain()
                proc.stdin.write_eof()

        await gather_or_cancel(read(proc.stdout, "stdout"), read(proc.stderr, "stderr"), feed())
        await proc.wait_closed()
        if proc.exit_status is None and self.cap.lost is None:
            self.cap.lost = "connection lost" if self.conn.is_closed() else "session closed without exit status"

    def signal(self, sig: str) -> None:
        # OpenSSH >= 7.9 delivers this as killpg() to the session's group (only HUP INT KILL QUIT TERM
        # USR1 USR2); the fresh-session kill_group that follows covers older servers and dead channels.
        with contextlib.suppress(asyncssh.Error, OSError):
            self.proc.send_signal(sig)

    def exit_info(self) -> tuple[int | None, str | None]:
        sig = self.proc.exit_signal
        if sig is not None:
            return None, sig[0]
        return self.proc.exit_status, None

    async def close(self) -> None:
        # Closing the channel does not kill a command without a pty: only _halt kills.
        self.proc.close()
        if not self._released:
            self._released = True
            self._sem.release()


def _lost(e: BaseException) -> str:
    msg = str(e).strip()
    return "connection lost" if not msg or msg.lower() == "connection lost" else f"connection lost ({msg})"


class SshTransport(Transport):
    is_local = False

    def __init__(self, host: str, ssh: SshConfig, *, kill_grace: float = KILL_GRACE,
                 max_channels: int = MAX_CHANNELS) -> None:
        # Host names come from the hostmaster database; a hostile one could reach a ProxyCommand's %h.
        super().__init__(check_host(host), kill_grace=kill_grace)
        self.ssh = ssh
        self._sem = asyncio.Semaphore(max_channels)
        self._kill_sem = asyncio.Semaphore(KILL_CHANNELS)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._conn_lock = asyncio.Lock()
        self._user = ssh.user

    # ---- connection --------------------------------------------------------------------------

    async def connect(self) -> None:
        await self._connection()

    async def _connection(self) -> asyncssh.SSHClientConnection:
        async with self._conn_lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._conn = None
            self._conn = await self._open()
            return self._conn

    async def _connect_options(self) -> dict[str, Any]:
        ssh = self.ssh
        kw: dict[str, Any] = {
            # Always the configured file: known_hosts=None would switch verification off.
            "known_hosts": str(ssh.known_hosts),
            "config": [str(ssh.config_file)] if ssh.config_file else [],
            "connect_timeout": ssh.connect_timeout,
            "keepalive_interval": ssh.keepalive_interval,
            "keepalive_count_max": ssh.keepalive_count_max,
        }
        if ssh.client_keys:
            kw["client_keys"] = [str(k) for k in ssh.client_keys]
        user = await asyncio.to_thread(self._config_user) if ssh.config_file else None
        if user is None:
            kw["username"] = user = ssh.user  # passed explicitly, it would override the config's User
        self._user = user
        return kw

    def _config_user(self) -> str | None:
        cfg = asyncssh.config.SSHClientConfig.load(None, [str(self.ssh.config_file)], False, False, False,
                                                   getpass.getuser(), (), self.host, ())
        user = cfg.get("User")
        return str(user) if user is not None else None

    async def _open(self) -> asyncssh.SSHClientConnection:
        known = self.ssh.known_hosts
        try:
            known.read_bytes()
        except OSError as e:
            raise TransportError(f"{self.host}: cannot read known_hosts file {known}: {e.strerror}") from None
        try:
            kw = await self._connect_options()
        except (OSError, ValueError, asyncssh.Error) as e:
            raise TransportError(f"{self.host}: bad ssh config {self.ssh.config_file}: {e}") from None
        recorder = _KeyRecorder()
        try:
            return await asyncssh.connect(self.host, client_factory=lambda: recorder, **kw)
        except asyncssh.HostKeyNotVerifiable:
            raise TransportError(self._key_message(recorder)) from None
        except asyncssh.PermissionDenied:
            raise TransportError(f"{self.host}: login refused for user {self._user}") from None
        except TimeoutError:
            raise TransportError(f"{self.host}: unreachable (no answer within "
                                 f"{fmt_seconds(self.ssh.connect_timeout)})") from None
        except OSError as e:
            # asyncio's strerror is "Connect call failed (addr)"; the errno text says why.
            why = os.strerror(e.errno) if isinstance(e.errno, int) and e.errno > 0 else e.strerror or str(e)
            raise TransportError(f"{self.host}: unreachable ({why})") from None
        except (asyncssh.Error, ValueError) as e:
            raise TransportError(f"{self.host}: ssh connection failed ({e})") from None

    def _key_message(self, recorder: _KeyRecorder) -> str:
        if recorder.offered is None:
            return f"{self.host}: host key not trusted (revoked or not decodable)"
        host, addr, port, key = recorder.offered
        shown = f"{key.get_algorithm()} {key.get_fingerprint()}"
        try:
            pinned = asyncssh.match_known_hosts(str(self.ssh.known_hosts), host, addr, port)[0]
        except (OSError, ValueError):
            pinned = []
        if pinned:
            return (f"{self.host}: host key CHANGED ({shown} offered, {self.ssh.known_hosts} has another); "
                    "refusing to connect")
        return f"{self.host}: host key not trusted ({shown} is not in {self.ssh.known_hosts})"

    # ---- commands ----------------------------------------------------------------------------

    async def _reserve(self, urgent: bool) -> object:
        sem = self._kill_sem if urgent else self._sem
        await sem.acquire()
        try:
            await self._connection()
        except BaseException:
            sem.release()
            raise
        return sem

    async def _launch(self, slot: object, cmd: str, data: bytes | None, cap: Capture, tag: str | None) -> Job:
        assert isinstance(slot, asyncio.Semaphore)
        # Exported by the wrapper, not sent as an SSH env request (sshd's AcceptEnv would drop it).
        env = f"export {TAG_VAR}={shlex.quote(tag)}; " if tag else f"unset {TAG_VAR}; "
        wrapped = _WRAP.format(tag=env, cmd=shlex.quote(cmd))
        try:
            for attempt in (1, 2):
                conn = await self._connection()  # reconnects if it died since _reserve
                try:
                    proc = await conn.create_process(wrapped, encoding=None)
                    return _SshJob(slot, conn, proc, cap, data)
                except asyncssh.ChannelOpenError as e:
                    if e.code == asyncssh.OPEN_CONNECT_FAILED and attempt == 1:
                        continue  # the channel was never opened (the connection had died): retry once
                    if e.code == asyncssh.OPEN_REQUEST_SESSION_FAILED and conn.is_closed():
                        raise StartUnsure(_lost(e)) from None  # the exec request may have reached sshd
                    raise TransportError(f"{self.host}: cannot open a session ({e.reason})") from None
                except (asyncssh.Error, OSError) as e:
                    raise StartUnsure(_lost(e)) from None
            raise AssertionError("unreachable")
        except BaseException:
            slot.release()
            raise

    async def kill_group(self, pgid: int) -> bool:
        check_pgid(pgid)
        ticks = int(self.kill_grace * 10) + 1
        script = _KILL_SCRIPT.format(pgid=pgid, term=ticks, kill=int(KILL_WAIT * 10))
        # verify=False: if this very script hangs, do not recurse into killing its own group
        r = await self._run(script, None, self.kill_grace + KILL_WAIT + 30, None, None, verify=False)
        return r.ok

    async def write_private_file(self, path: str, data: bytes) -> None:
        tmp = f"{path}.qm-{secrets.token_hex(4)}.tmp"
        async with self._sem:
            conn = await self._connection()
            try:
                async with conn.start_sftp_client() as sftp:
                    try:
                        # A fresh 0600 file renamed over the target: never readable under an old mode.
                        attrs = asyncssh.SFTPAttrs(permissions=0o600)
                        async with sftp.open(tmp, "xb", attrs) as f:
                            await f.chmod(0o600)  # exactly 0600, whatever sftp-server's umask
                            await f.write(data)
                            await f.fsync()
                        await sftp.posix_rename(tmp, path)
                    except BaseException:
                        with contextlib.suppress(asyncssh.Error, OSError):
                            await sftp.remove(tmp)
                        raise
            except asyncssh.SFTPError as e:
                raise TransportError(f"{self.host}: cannot write {path}: {e.reason}") from None
            except (asyncssh.Error, OSError) as e:
                raise TransportError(f"{self.host}: cannot write {path}: {_lost(e)}") from None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.close()
        try:
            await asyncio.wait_for(conn.wait_closed(), _CLOSE_WAIT)
        except TimeoutError:
            conn.abort()
