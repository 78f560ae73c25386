"""A private MariaDB server for a sandbox: its own datadir and unix socket, no TCP port, no system files.

``start_private(dir)`` runs ``mariadb-install-db`` then ``mariadbd`` as the current user (``--user=root``
when that is root: mariadbd refuses root otherwise), both with ``--no-defaults`` so nothing from
/etc/mysql applies, and ``--skip-networking``. The only admin account is the current OS user through
``unix_socket`` authentication (as Debian does for root): ``PrivateMariaDB.admin`` connects over the socket
with no password, and nobody else can, so the socket's directory (``<dir>/run``, mode 0755) may be
bind-mounted into the demo's lab hosts, whose ``aegir`` user logs in with the site accounts' passwords.
``stop()`` shuts the server down cleanly (SIGTERM, then SIGKILL after a grace period).

Clients find the server the way a machine's clients find its default socket: ``<dir>/my.cnf`` has
``[client] socket=...`` and ``PrivateMariaDB.env`` sets ``MYSQL_HOME=<dir>``, which mariadb/mariadb-dump
read after /etc/mysql/my.cnf (so it wins over the system socket, even with ``--defaults-extra-file``).
``MYSQL_UNIX_PORT`` would not: Debian's /etc/mysql/my.cnf names a socket, and option files beat it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from .hostmaster_db import AdminParams

SERVER = "mariadbd"
INSTALL_DB = "mariadb-install-db"
INSTALL_HINT = "the private database needs MariaDB's server binaries: apt-get install mariadb-server"
SOCKET_MAX = 107  # sun_path is 108 bytes with the NUL
# Small and fast: a sandbox, not a production server (durability settings only matter on a crash).
_TUNING = ("--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--innodb-flush-method=nosync",
           "--innodb-flush-log-at-trx-commit=2",
           "--skip-innodb-doublewrite", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
           "--skip-name-resolve", "--max-connections=200")


class MariaDBUnavailable(RuntimeError):
    """The server binaries are missing, or the server did not come up (the message says which)."""


def missing_binaries() -> list[str]:
    return [b for b in (INSTALL_DB, SERVER) if _which(b) is None]


def _which(name: str) -> str | None:
    # mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


@dataclass
class PrivateMariaDB:
    dir: Path
    proc: subprocess.Popen[bytes]
    socket: Path
    admin: AdminParams
    stopped: bool = field(default=False)

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def log(self) -> Path:
        return self.dir / "error.log"

    @property
    def env(self) -> dict[str, str]:
        """Environment under which mariadb/mariadb-dump (with host=localhost) reach this server."""
        return {"MYSQL_HOME": str(self.dir)}

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown; idempotent. SIGKILL only if the server ignores SIGTERM for ``timeout``."""
        if self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> PrivateMariaDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _os_user() -> str:
    return "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _user_args() -> list[str]:
    # mariadb-install-db also makes this the unix_socket admin account (--auth-root-socket-user defaults to it)
    return [f"--user={_os_user()}"]


def _tail(path: Path, n: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


def start_private(dir: Path, timeout: float = 30.0) -> PrivateMariaDB:
    """Initialise (if needed) and start a server in ``dir`` (data/, mysqld.sock, error.log, my.cnf).

    Raises MariaDBUnavailable with ``INSTALL_HINT`` when the binaries are missing, or with the tail of
    the error log when the server fails to start. A server left running in ``dir`` by a process that
    died is stopped first (its pid file names it).
    """
    missing = missing_binaries()
    if missing:
        raise MariaDBUnavailable(f"{', '.join(missing)} not found: {INSTALL_HINT}")
    dir = Path(dir).resolve()
    dir.mkdir(parents=True, exist_ok=True)
    dir.chmod(0o700)  # the datadir and logs are ours alone
    run = dir / "run"  # the socket alone, shareable: only the unix_socket-authenticated owner is admin
    run.mkdir(exist_ok=True)
    run.chmod(0o755)
    sock, datadir, pid_file = run / "mysqld.sock", dir / "data", dir / "mysqld.pid"
    if len(os.fsencode(sock)) > SOCKET_MAX:
        raise MariaDBUnavailable(f"socket path {sock} is longer than {SOCKET_MAX} bytes; use a shorter sandbox path")
    _reap_stale(pid_file)
    if not (datadir / "mysql").is_dir():
        init = subprocess.run(
            [_which(INSTALL_DB) or INSTALL_DB, "--no-defaults", f"--datadir={datadir}", "--skip-test-db",
             "--auth-root-authentication-method=socket", *_user_args(), *_TUNING],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        if init.returncode != 0:
            out = (init.stdout + init.stderr).decode(errors="replace").strip().splitlines()[-5:]
            raise MariaDBUnavailable(f"{INSTALL_DB} failed (exit {init.returncode}): {' | '.join(out)}")
    (dir / "my.cnf").write_text(f"[client]\nsocket={sock}\n")
    log = dir / "error.log"
    proc = subprocess.Popen(
        [_which(SERVER) or SERVER, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", "--skip-networking",
         f"--pid-file={pid_file}", f"--log-error={log}", *_user_args(), *_TUNING],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # a Ctrl-C in the terminal must not kill it before we stop it cleanly
    db = PrivateMariaDB(dir, proc, sock, AdminParams(user=_os_user(), unix_socket=str(sock)))
    try:
        _wait_ready(db, timeout)
    except BaseException:
        db.stop()
        raise
    return db


def _wait_ready(db: PrivateMariaDB, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if db.proc.poll() is not None:
            raise MariaDBUnavailable(f"{SERVER} exited with {db.proc.returncode}: {_tail(db.log)}")
        if db.socket.exists():
            try:
                db.admin.connect(connect_timeout=2).close()
                return
            except pymysql.MySQLError as exc:
                last = str(exc)
        time.sleep(0.05)
    raise MariaDBUnavailable(f"{SERVER} did not accept connections within {timeout:.0f}s: {last or _tail(db.log)}")


def _reap_stale(pid_file: Path) -> None:
    """Stop a mariadbd a dead sandbox process left behind in this directory (same pid file)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if not any(a == f"--pid-file={pid_file}".encode() for a in cmdline):
        return  # a recycled pid: not ours
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
