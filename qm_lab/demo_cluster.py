"""The demo's cluster layout: the test lab's hosts and scenario (``lab.build_lab``) on the demo's private MariaDB.

A hostmaster (``aegir.lab.test``), the three-front cluster ``web1..3.lab.test`` sharing /srv/gluster, and
the standalone ``web4.lab.test``: each a real sshd on 127.0.0.1 in its own mount namespace (root only,
``sshd.lab_unavailable_reason``). Everything lives under ``<sandbox>/cluster``.

The private server has no TCP port. Its socket directory is bind-mounted at /run/mysqld on every host,
so 'localhost' there (the default socket of /etc/mysql/my.cnf, of the mariadb client and of the drush
stand-in) is the sandbox's server, and the system's socket is out of sight. ``aegir`` logs in with the
site and hostmaster accounts' passwords; the server's only admin is the OS user who started it
(``mariadb_private``). The controller reaches the hostmaster DB through the socket named in the config.

The hosts outlive the process that started them (``--no-tui``, or a detached run still going), so
``<sandbox>/cluster/hosts.json`` records each sshd's pid, start time and namespace (to stop them from
another process, ``stop_cluster``) and its port (a restart keeps the ports the SSH config names).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .hosts import HostLab
from .lab import MASTER, build_lab, host_path, lab_specs
from .mariadb_private import PrivateMariaDB
from .sshd import kill_ns, mnt_ns, proc_start_time, unregister

Progress = Callable[[str], None]

CLUSTER_DIR = "cluster"
RECORD = "hosts.json"
MYSQL_RUN = "/run/mysqld"  # where Debian's clients look for 'localhost'
TITLE = "demo sandbox · cluster over SSH · drush stand-in, not a real Aegir"


@dataclass
class DemoCluster:
    base: Path  # <sandbox>/cluster
    hosts: HostLab
    config_path: Path

    def root(self, host: str) -> Path:
        """Controller-side path of ``host``'s /var/aegir (``lab.HostPaths``, for ``files_state``)."""
        return self.hosts[host].root

    def path(self, host: str, in_host: str) -> Path:
        return host_path(self.hosts, host, in_host)

    def stop(self) -> None:
        """Stop every host (its sshd and every process in its namespace)."""
        try:
            self.hosts.close()
        finally:
            _write_record(self.base, running={})

    def detach(self) -> None:
        """Let the hosts outlive this process; ``stop_cluster`` stops them later."""
        self.hosts.detach()


def _hosts(base: Path, db: PrivateMariaDB) -> HostLab:
    return HostLab(base, lab_specs(), master=MASTER, binds={MYSQL_RUN: db.socket.parent}, open_ancestors=False)


def build_cluster(sandbox: Path, db: PrivateMariaDB, say: Progress) -> tuple[DemoCluster, dict[str, object]]:
    """Build the layout under ``<sandbox>/cluster``, hosts running; returns it and what demo.json keeps."""
    base = sandbox / CLUSTER_DIR
    lab = build_lab(base, admin=db.admin, title=TITLE, progress=say, binds={MYSQL_RUN: db.socket.parent},
                    open_ancestors=False)
    cluster = DemoCluster(base, lab.hosts, lab.config_path)
    try:
        _record_and_check(cluster)
    except BaseException:
        lab.close()  # its databases too: the sandbox keeps only the local layout
        raise
    info: dict[str, object] = {
        "config": str(lab.config_path), "hostmaster_db": lab.accounts.database,
        "sites": {s.uri: lab.world.platform_of(s).title for s in lab.world.sites if s.installed},
    }
    return cluster, info


def start_cluster(sandbox: Path, db: PrivateMariaDB, config: Path, say: Progress) -> DemoCluster:
    """Start a built layout's hosts again (stopping any a previous process left), on their old ports."""
    base = sandbox / CLUSTER_DIR
    stop_cluster(sandbox)
    hosts = _hosts(base, db)
    for name, port in _read_record(base).get("ports", {}).items():
        if name in hosts.hosts and isinstance(port, int):
            hosts[name].port = port  # a port taken meanwhile moves, and the SSH config is rewritten
    hosts.start(say)
    cluster = DemoCluster(base, hosts, config)
    _record_and_check(cluster)
    return cluster


def stop_cluster(sandbox: Path) -> int:
    """Stop the hosts ``hosts.json`` says run (checked by pid, start time and namespace); how many were."""
    base = sandbox / CLUSTER_DIR
    record = _read_record(base)
    stopped = 0
    for entry in record.get("running", {}).values():
        try:
            pid, start, ns = int(entry[0]), str(entry[1]), str(entry[2])
        except (TypeError, ValueError, IndexError):
            continue
        if proc_start_time(pid) == start and mnt_ns(pid) == ns and ns != mnt_ns("self"):
            kill_ns(ns)
            stopped += 1
        unregister(pid)
    if record.get("running"):
        _write_record(base, running={})
    return stopped


def cluster_view(sandbox: Path, config: Path) -> DemoCluster:
    """The layout's paths, its hosts not started by this process (tests: ``files_state`` on a CLI-built demo)."""
    base = sandbox / CLUSTER_DIR
    return DemoCluster(base, HostLab(base, lab_specs(), master=MASTER), config)


def _record_and_check(cluster: DemoCluster) -> None:
    """Record the running hosts, then check aegir on the hostmaster reaches the private server through
    /run/mysqld (the stand-in's status says so); on failure the hosts are stopped."""
    try:
        _record_running(cluster)
        r = cluster.hosts[MASTER].exec_in(["drush", "@hostmaster", "status", "--format=json"])
        try:
            status = json.loads(r.stdout).get("db-status")
        except ValueError:
            status = None
        if status != "Connected":
            raise RuntimeError(f"aegir on {MASTER} cannot reach the sandbox's MariaDB at {MYSQL_RUN}: "
                               f"{(r.stderr or r.stdout).strip()[-300:]}")
    except BaseException:
        cluster.stop()
        raise


def _read_record(base: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((base / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_record(base: Path, **fields: dict[str, object]) -> None:
    if not base.is_dir():
        return
    data = _read_record(base) | fields
    tmp = base / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, base / RECORD)


def _record_running(cluster: DemoCluster) -> None:
    running: dict[str, object] = {}
    for name, host in cluster.hosts.hosts.items():
        if host.pid is not None and host.ns is not None:
            running[name] = [host.pid, proc_start_time(host.pid), host.ns]
    ports: dict[str, object] = {name: host.port for name, host in cluster.hosts.hosts.items()}
    _write_record(cluster.base, ports=ports, running=running)
