"""Lab hosts: real OpenSSH sshd "servers" on 127.0.0.1, each in its own mount namespace.

Each host sees its own tree at /var/aegir (and optionally a shared dir at /srv/gluster), so every host
has the same absolute paths over different files, as separate machines do. See docs/lab.md.

    lab = HostLab(tmp, [HostSpec("aegir.lab.test"), HostSpec("web1.lab.test", ["gluster"])]).start()
    subprocess.run(lab.ssh_argv("web1.lab.test", "ls", "/var/aegir"))
    lab["aegir.lab.test"].exec_in(["rsync", "-a", "/var/aegir/x", "web1.lab.test:/var/aegir/"])
    lab.close()
"""

from __future__ import annotations

import atexit
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qm_lab.sshd import (
    AEGIR_HOME,
    AEGIR_USER,
    GLUSTER_MOUNT,
    SESSION_PATH,
    check_sshd_config,
    chown_aegir,
    ensure_aegir_user,
    free_port,
    freeze_ns,
    keygen,
    kill_ns,
    lab_unavailable_reason,
    mnt_ns,
    pids_in_ns,
    reap_orphans,
    register,
    render_sshd_config,
    signal_ns,
    spawn_sshd,
    ssh_quote,
    unregister,
    write_file,
)
from qm_lab.sshd import cmdline as _cmdline

__all__ = ["HostLab", "HostSpec", "LabHost", "LabProcess", "ensure_aegir_user", "lab_unavailable_reason"]

_START_TIMEOUT = 15.0


@dataclass(frozen=True)
class HostSpec:
    """A real lab host. `shared` names shared-storage groups: "gluster" is mounted at /srv/gluster,
    "group=/srv/other" at an explicit mount point. Hosts listing the same group share one directory."""

    name: str
    shared: Sequence[str] = field(default_factory=tuple)

    def shared_mounts(self) -> list[tuple[str, str]]:
        out = [(s.split("=", 1)[0], s.split("=", 1)[1]) if "=" in s else (s, GLUSTER_MOUNT)
               for s in self.shared]
        points = [p for _, p in out]
        if len(set(points)) != len(points):
            raise ValueError(f"{self.name}: two shared groups on one mount point: {self.shared}")
        return out


@dataclass(frozen=True)
class LabProcess:
    pid: int
    cmdline: list[str]


class LabHost:
    """One sshd in its own mount namespace. Survives stop()/start() with the same port, keys and tree."""

    def __init__(self, spec: HostSpec, hostdir: Path, shared: Mapping[str, Path],
                 binds: Mapping[str, Path] | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.dir = hostdir
        self.root = hostdir / "aegir"  # the controller-side path of this host's /var/aegir
        self.config_path = hostdir / "sshd_config"
        self.log_path = hostdir / "sshd.log"
        self.port = 0
        self.host_key = ""  # "ssh-ed25519 AAAA..." (no comment)
        self._mounts = [(shared[g], point) for g, point in spec.shared_mounts()]
        self._mounts += [(src, point) for point, src in (binds or {}).items()]
        self._proc: subprocess.Popen[bytes] | None = None
        self._ns: str | None = None
        self._log_offset = 0
        self.frozen = False

    # ---- lifecycle -------------------------------------------------------------------------------

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.root.mkdir(exist_ok=True)
        chown_aegir(self.root, 0o755)
        ssh = self.root / ".ssh"
        ssh.mkdir(exist_ok=True)
        chown_aegir(ssh, 0o700)
        pub = keygen(self.dir / "ssh_host_ed25519_key", f"root@{self.name}")
        self.host_key = " ".join(pub.split()[:2])
        self.port = self.port or free_port()

    def _spawn(self) -> None:
        self.config_path.write_text(render_sshd_config(self.port, self.dir))
        check_sshd_config(self.config_path)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc = spawn_sshd(self.root, self.config_path, self._mounts, self.log_path)
        self.frozen = False

    def _wait_ready(self) -> None:
        """Wait for sshd's own "Server listening" line: a bare port probe could hit someone else's socket."""
        assert self._proc is not None
        want = f"Server listening on 127.0.0.1 port {self.port}."
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            log = self._log_tail()
            if want in log:
                break
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._abort_spawn()
                raise RuntimeError(f"sshd for {self.name} on port {self.port} did not start: {log[-800:]}")
            time.sleep(0.02)
        ns = mnt_ns(self._proc.pid)
        if ns is None or ns == mnt_ns("self"):
            self._abort_spawn()
            raise RuntimeError(f"sshd for {self.name} is not in its own mount namespace")
        self._ns = ns
        register(self._proc.pid, ns)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass

    def _abort_spawn(self) -> None:
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait()
        self._proc = None

    def _log_tail(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def start(self, _may_move_port: bool = False) -> None:
        if self.running:
            return
        self.stop()  # sshd may have died on its own: clear what is left of its namespace first
        for attempt in range(5):
            self._spawn()
            try:
                self._wait_ready()
                return
            except RuntimeError as e:
                # A freshly picked port can be taken between probe and bind; only the first start may
                # move (clients already know the port after that).
                if not (_may_move_port and "Address already in use" in str(e)) or attempt == 4:
                    raise
                self.port = free_port()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    @property
    def ns(self) -> str | None:
        """The mount namespace of the running sshd (``mnt:[...]``), None when stopped."""
        return self._ns if self.running else None

    def stop(self) -> None:
        """Power off: SIGKILL sshd and every process in its namespace (sessions, detached children)."""
        if self._ns is not None:
            kill_ns(self._ns)
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            unregister(self._proc.pid)
        self._proc, self._ns, self.frozen = None, None, False

    def freeze(self) -> None:
        """Black hole: the kernel still completes TCP handshakes, but nothing ever answers (no RST)."""
        freeze_ns(self._require_ns())
        self.frozen = True

    def thaw(self) -> None:
        signal_ns(self._require_ns(), signal.SIGCONT)
        self.frozen = False

    # ---- inside the host -------------------------------------------------------------------------

    def _require_ns(self) -> str:
        if self._ns is None or not self.running:
            raise RuntimeError(f"host {self.name} is not running")
        return self._ns

    def _nsenter(self) -> list[str]:
        self._require_ns()
        return ["nsenter", "-t", str(self.pid), "-m", "--"]

    def exec_in(self, argv: Sequence[str], user: str = AEGIR_USER, *, input: bytes | str | None = None,
                check: bool = False, timeout: float | None = 60, text: bool = True,
                env: Mapping[str, str] | None = None,
                cwd: str | None = None) -> subprocess.CompletedProcess[Any]:
        """Run argv inside this host's namespace as `user`, with a session-like env (PATH as sshd sets it).

        Text mode decodes with surrogateescape, so non-UTF-8 file names survive a round trip."""
        cmd, environ = self._session(argv, user, env, cwd)
        enc = {"encoding": "utf-8", "errors": "surrogateescape"} if text else {}
        return subprocess.run(cmd, input=input, capture_output=True, check=check, timeout=timeout,
                              env=environ, **enc)

    def spawn_in(self, argv: Sequence[str], log: Path, user: str = AEGIR_USER) -> subprocess.Popen[bytes]:
        """Start a daemon of this host (its web server): like ``exec_in``, not waited for, its output
        appended to ``log``. It lives in the host's namespace, so ``stop()`` ends it with the host."""
        cmd, environ = self._session(argv, user, None, None)
        with open(log, "ab") as out:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=environ, start_new_session=True)

    def _session(self, argv: Sequence[str], user: str, env: Mapping[str, str] | None,
                 cwd: str | None) -> tuple[list[str], dict[str, str]]:
        pw = pwd.getpwnam(user)
        home = AEGIR_HOME if user == AEGIR_USER else pw.pw_dir
        cmd = self._nsenter()
        if pw.pw_uid != 0:
            cmd += ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]
        # `env -C` runs after setns: nsenter's own --wd would resolve the directory in *our* namespace.
        cmd += ["env", "-C", cwd or home, "--", *argv]
        environ = {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": pw.pw_shell, "PATH": SESSION_PATH,
                   **(env or {})}
        return cmd, environ

    def mount_in(self, src: Path | str, dst: str, *, readonly: bool = False) -> None:
        """Bind-mount src (a controller path) at dst, visible only in this host until umount/stop."""
        subprocess.run([*self._nsenter(), "mount", "--bind", str(src), dst], check=True, capture_output=True)
        if readonly:
            subprocess.run([*self._nsenter(), "mount", "-o", "remount,bind,ro", dst],
                           check=True, capture_output=True)

    def mount_tmpfs_in(self, dst: str, size: str, mode: str = "0755", owner: tuple[int, int] | None = None) -> None:
        """A small filesystem of its own at dst, only in this host (a second mount, or a full disk).
        Mounted from inside the namespace: a mount made in the root namespace after the host
        started is not propagated into it (private propagation)."""
        opts = f"size={size},mode={mode}" + (f",uid={owner[0]},gid={owner[1]}" if owner else "")
        subprocess.run([*self._nsenter(), "mount", "-t", "tmpfs", "-o", opts, "tmpfs", dst],
                       check=True, capture_output=True)

    def umount_in(self, dst: str) -> None:
        subprocess.run([*self._nsenter(), "umount", dst], check=True, capture_output=True)

    def processes(self) -> list[LabProcess]:
        """Every process in this host's namespace (empty when stopped)."""
        if self._ns is None:
            return []
        return [LabProcess(p, _cmdline(p)) for p in pids_in_ns(self._ns)]

    def __repr__(self) -> str:
        return f"<LabHost {self.name} 127.0.0.1:{self.port} {'up' if self.running else 'down'}>"


_LIVE: set[HostLab] = set()


@atexit.register
def _close_live_labs() -> None:
    for lab in list(_LIVE):
        lab.close()


class HostLab:
    """A set of lab hosts plus the controller's client identity (`<base>/client/`).

    `master` (if given) gets its own key and ~/.ssh/config, and is authorized everywhere, so it can
    ssh/rsync to the fronts by name from inside its namespace, as Aegir's hostmaster does."""

    def __init__(self, base: Path | str, specs: Iterable[HostSpec], master: str | None = "aegir.lab.test", *,
                 binds: Mapping[str, Path] | None = None, open_ancestors: bool = True):
        """``binds``: in-host mount point -> controller dir, on every host (the demo's DB socket dir at
        /run/mysqld). ``open_ancestors=False``: never add o+x to ``base``'s ancestors (e.g. /root)."""
        self.base = Path(base).resolve()
        self.specs = list(specs)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate host names: {names}")
        if master is not None and master not in names:
            raise ValueError(f"master {master!r} is not one of the hosts")
        self.master_name = master
        self.client_dir = self.base / "client"
        self.client_key = self.client_dir / "id_ed25519"
        self.known_hosts = self.client_dir / "known_hosts"
        self.ssh_config = self.client_dir / "ssh_config"
        groups = sorted({g for s in self.specs for g, _ in s.shared_mounts()})
        self.shared = {g: self.base / "shared" / g for g in groups}
        self.binds = {point: Path(src) for point, src in (binds or {}).items()}
        self.open_ancestors = open_ancestors
        self.hosts = {s.name: LabHost(s, self.base / "hosts" / s.name, self.shared, self.binds)
                      for s in self.specs}
        self._closed = False

    def __getitem__(self, name: str) -> LabHost:
        return self.hosts[name]

    @property
    def master(self) -> LabHost | None:
        return self.hosts[self.master_name] if self.master_name else None

    def start(self, progress: Callable[[str], None] | None = None) -> HostLab:
        reason = lab_unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        ensure_aegir_user()
        reap_orphans()
        self._closed = False
        _LIVE.add(self)
        try:
            self._build(progress or (lambda _msg: None))
        except BaseException:
            self.close()
            raise
        return self

    def _build(self, say: Callable[[str], None]) -> None:
        for d in (self.base, self.base / "hosts", self.base / "shared", self.client_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        # aegir must be able to reach files under the base from the root namespace too (e.g. a
        # tree used as a mount source); add only o+x to ancestors such as pytest's 0700 tmp root.
        for parent in self.base.parents if self.open_ancestors else ():
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, (mode & 0o7777) | 0o001)
        for path in self.shared.values():
            path.mkdir(exist_ok=True)
            chown_aegir(path, 0o755)
        points = [p for spec in self.specs for _, p in spec.shared_mounts()] + list(self.binds)
        for point in points:
            os.makedirs(point, mode=0o755, exist_ok=True)  # mount point in the root namespace
        keys = [keygen(self.client_key, "qm-tui-lab-controller")]
        master = self.master
        if master:
            master.prepare()
            mkey = master.root / ".ssh" / "id_ed25519"
            keys.append(keygen(mkey, f"aegir@{master.name}"))
            for p in (mkey, mkey.with_name("id_ed25519.pub")):
                chown_aegir(p, 0o600 if p == mkey else 0o644)
        for host in self.hosts.values():
            host.prepare()
            authorized = "".join(k + "\n" for k in keys)
            write_file(host.root / ".ssh" / "authorized_keys", authorized, 0o600, aegir=True)
        # Spawn all sshds first, then wait: startup is mostly waiting, so this overlaps it.
        for host in self.hosts.values():
            say(f"Starting sshd for {host.name} on 127.0.0.1:{host.port} (its own mount namespace)")
            host._spawn()
        say(f"Waiting for {len(self.hosts)} sshd hosts to listen")
        for host in self.hosts.values():
            try:
                host._wait_ready()
            except RuntimeError:
                host.port = free_port()  # most likely lost the port race; anything else re-raises
                host.start(_may_move_port=True)
        self._write_client_files()

    def known_hosts_text(self) -> str:
        return "".join(f"[127.0.0.1]:{h.port} {h.host_key}\n" for h in self.hosts.values())

    def _host_blocks(self, identity: str, known_hosts: str | None) -> str:
        out = []
        for h in self.hosts.values():
            lines = [f"Host {h.name}", "    HostName 127.0.0.1", f"    Port {h.port}",
                     f"    User {AEGIR_USER}", f"    IdentityFile {identity}", "    IdentitiesOnly yes"]
            if known_hosts:
                lines.append(f"    UserKnownHostsFile {known_hosts}")
            lines += ["    StrictHostKeyChecking yes", "    BatchMode yes", ""]
            out.append("\n".join(lines))
        return "\n".join(out)

    def _write_client_files(self) -> None:
        write_file(self.known_hosts, self.known_hosts_text(), 0o644)
        blocks = self._host_blocks(ssh_quote(self.client_key), ssh_quote(self.known_hosts))
        write_file(self.ssh_config, blocks, 0o644)
        master = self.master
        if master:
            ssh = master.root / ".ssh"
            write_file(ssh / "known_hosts", self.known_hosts_text(), 0o644, aegir=True)
            write_file(ssh / "config", self._host_blocks("~/.ssh/id_ed25519", None), 0o600, aegir=True)

    def ssh_argv(self, host: str, *command: str) -> list[str]:
        """`ssh` argv for the controller; command words are joined by ssh and parsed by the remote shell."""
        return ["ssh", "-F", str(self.ssh_config), host, *command]

    def connect_kwargs(self, host: str) -> dict[str, Any]:
        """Keyword arguments for asyncssh.connect() as the controller, with strict host key checking."""
        return {"host": "127.0.0.1", "port": self.hosts[host].port, "username": AEGIR_USER,
                "client_keys": [str(self.client_key)], "known_hosts": str(self.known_hosts)}

    def detach(self) -> None:
        """Leave the hosts running after this process exits (no close at exit, out of the orphan registry
        ``reap_orphans`` reads); whoever recorded their pids and namespaces stops them (``sshd.kill_ns``)."""
        for host in self.hosts.values():
            if host.pid is not None:
                unregister(host.pid)
        _LIVE.discard(self)

    def close(self) -> None:
        """Stop every host (idempotent). Raises the first error after trying them all."""
        errors: list[BaseException] = []
        for host in self.hosts.values():
            try:
                host.stop()
            except Exception as e:  # keep going: the other hosts must still go down
                errors.append(e)
        self._closed = True
        _LIVE.discard(self)
        if errors:
            raise errors[0]

    def __enter__(self) -> HostLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
