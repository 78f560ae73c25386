"""Helpers for integration tests on the lab: a fixture, the CLI, and the files/DB/hostmaster invariant."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from qm_lab.lab import AEGIR_ROOT, MASTER, Lab, build_lab, files_state
from qm_lab.sshd import lab_unavailable_reason

REPO = Path(__file__).resolve().parent.parent
IGNORED = ("drush-standin.log", ".qm-tui", "backups", "config", ".drush", "drush-standin.fail",
           "drush-standin.sleep")


def need_lab() -> None:
    why = lab_unavailable_reason()
    if why:
        pytest.skip(f"lab unavailable: {why}")


def make_lab(tmp_path_factory: pytest.TempPathFactory, **kw: Any) -> Iterator[Lab]:
    need_lab()
    lab = build_lab(tmp_path_factory.mktemp("lab"), **kw)
    try:
        yield lab
    finally:
        lab.close()


def cli(lab: Lab, *args: str, timeout: float = 300, env: dict[str, str] | None = None,
        config: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qm_tui", *args, "--config", str(config or lab.config_path)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})},
    )


def run_id_of(proc: subprocess.CompletedProcess[str]) -> str:
    first = proc.stdout.splitlines()[0]
    assert first.startswith("run "), proc.stdout + proc.stderr
    return first.split()[1]


@dataclass(frozen=True)
class SiteState:
    files: dict[str, tuple[tuple[str, ...], int | None, str]]  # front -> (places, inode, digest)
    private: dict[str, tuple[tuple[str, ...], int | None, str]]


def fronts_of(lab: Lab, uri: str) -> list[str]:
    return list(lab.world.fronts(lab.world.platform_of(lab.world.site(uri)).web_server))


def site_state(lab: Lab, uri: str, fronts: list[str]) -> SiteState:
    """Every copy of the site's files: on ``fronts`` and on the hostmaster (its copy moves with the site)."""
    files, private = {}, {}
    for host in dict.fromkeys([*fronts, MASTER]):
        f = files_state(lab, host, uri, "files")
        p = files_state(lab, host, uri, "private")
        files[host] = (f.places, f.inode, f.digest)
        private[host] = (p.places, p.inode, p.digest)
    return SiteState(files, private)


def assert_files_at(lab: Lab, uri: str, platform: str, before: SiteState, after: SiteState) -> None:
    """The invariant: exactly one place per front, under ``platform``, same inode and content."""
    pub = lab.world.platform(platform).publish_path
    for kind, b, a in (("files", before.files, after.files), ("private", before.private, after.private)):
        for host in b:
            places, inode, digest = a[host]
            want = lab.path(host, f"{pub}/sites/{uri}/{'files' if kind == 'files' else 'private/files'}")
            assert places == (str(want),), f"{host} {kind}: {places}"
            assert inode == b[host][1], f"{host} {kind}: inode changed (copied, not renamed)"
            assert digest == b[host][2], f"{host} {kind}: content changed"


def hostmaster_platform(lab: Lab, uri: str) -> str:
    conn = lab.admin.connect(lab.accounts.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pn.title FROM node n JOIN hosting_site s ON s.vid = n.vid "
                        "JOIN node pn ON pn.nid = s.platform WHERE n.type = 'site' AND n.title = %s", (uri,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def site_db(lab: Lab, uri: str, sql: str) -> list[tuple[object, ...]]:
    creds = lab.site_creds[lab.world.site(uri).nid]
    conn = pymysql.connect(host=creds.host, port=creds.port, user=creds.user, password=creds.password,
                           database=creds.name)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def tree_fingerprint(lab: Lab) -> dict[str, list[tuple[str, int, int]]]:
    """Every path under every host's /var/aegir (and the shared dir), with inode and size."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    roots = {h: lab.root(h) for h in lab.hosts.hosts} | {"gluster": lab.hosts.shared["gluster"]}
    for name, root in roots.items():
        rows = []
        for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
            rel = os.path.relpath(dirpath, os.fsencode(root))
            dirnames[:] = sorted(d for d in dirnames if not (rel == b"." and os.fsdecode(d) in IGNORED))
            for n in sorted(filenames + dirnames):
                if rel == b"." and os.fsdecode(n) in IGNORED:
                    continue
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                rows.append((os.fsdecode(os.path.relpath(p, os.fsencode(root))), st.st_ino,
                             st.st_size if not os.path.isdir(p) else 0))
        out[name] = rows
    return out


def no_leftovers(lab: Lab, uri: str) -> None:
    """No parking dir, lock or stale partial dump remains anywhere."""
    for host in lab.hosts.hosts:
        park = lab.root(host) / "qm-tui-parking"
        if park.is_dir():
            assert not [p for p in park.iterdir() if p.name.startswith(uri + ".")], f"{host}: parking left"
    lock = lab.root("aegir.lab.test") / ".qm-tui" / "locks" / uri
    assert not lock.exists(), "lock left behind"


def standin(lab: Lab, kind: str, text: str) -> None:
    """Write the drush stand-in's fault file (kind: fail or sleep) on the hostmaster."""
    path = lab.root("aegir.lab.test") / f"drush-standin.{kind}"
    path.write_text(text)
    os.chown(path, lab.root("aegir.lab.test").stat().st_uid, lab.root("aegir.lab.test").stat().st_gid)


def clear_standin(lab: Lab) -> None:
    for kind in ("fail", "sleep"):
        (lab.root("aegir.lab.test") / f"drush-standin.{kind}").unlink(missing_ok=True)


def source_of(lab: Lab, uri: str) -> str:
    """The platform the site started on (in the seed scenario)."""
    return lab.world.platform_of(lab.world.site(uri)).title


def reset_faults(lab: Lab) -> Iterator[None]:
    """For an autouse fixture: no injected drush fault, and every host up and running, around a test."""
    clear_standin(lab)
    yield
    clear_standin(lab)
    for host in lab.hosts.hosts.values():
        if host.frozen:
            host.thaw()
        if not host.running:
            host.start()


__all__ = ["AEGIR_ROOT", "MASTER", "Lab", "SiteState", "assert_files_at", "clear_standin", "cli", "fronts_of",
           "hostmaster_platform", "make_lab", "need_lab", "no_leftovers", "reset_faults", "run_id_of", "site_db",
           "site_state", "source_of", "standin", "tree_fingerprint"]
