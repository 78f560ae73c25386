"""Preflight against Aegir itself, read fresh right before the run acts (issue 14, S3 and S4).

* The task queue: a queued or processing hosting task on the site, either platform, the web server or
  the db server would race the run (a site task re-saves the alias on the old platform, a verify that
  ends after hosting-import saves its stale node). qm-tui's own lock is invisible to Aegir.
* Freshness: the package comparison trusts the last recorded verifies, where provision force-verifies
  both platforms first. Code changed since (a file's ctime after ``verified``) refuses; so does a
  platform or site never verified. ctime, not mtime: ``tar``, ``drush dl`` and ``rsync -a`` keep a
  file's old mtime, but nothing can set its ctime back.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import NamedTuple

from ..config import DbConfig
from .hostmaster_db import ActiveTask, HostmasterDB
from .operations.context import SiteMoveContext
from .transport import Outcome, Transport

q = shlex.quote
# What can make the recorded package list (names, versions, schemas) stale: extension metadata and code,
# install profiles, and core's version constant (D7 bootstrap.inc, D8+ Drupal.php, D6 system.module).
PACKAGE_FILES = (r"\( -name '*.info' -o -name '*.info.yml' -o -name '*.module' -o -name '*.install' "
                 r"-o -name '*.profile' -o -path ./includes/bootstrap.inc -o -path ./core/lib/Drupal.php \)")
# A platform's code: not its per-site dirs (a site's verify scans its own code; files and private are
# data), nor composer's vendor or VCS metadata.
PLATFORM_PRUNE = (r"-path './sites/*' ! -path './sites/*/*' ! -path ./sites/all "
                  r"-o -path ./vendor -o -name .git -o -name node_modules")
# A site dir: only its code dirs.
SITE_PRUNE = r"-path './*' ! -path './*/*' ! -name modules ! -name themes ! -name libraries"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AegirNow:
    """The hostmaster's queue and verify times for the nodes of one run, as read just now."""

    tasks: list[ActiveTask]
    verified: dict[int, int]  # site and platform nid -> unix time (0: never)


def watched_nodes(ctx: SiteMoveContext) -> dict[int, str]:
    """Every node whose Aegir task could race the run, named by its role(s) in it."""
    roles = [(ctx.site.nid, f"site {ctx.uri}"), (ctx.source.nid, f"source platform {ctx.source.title}"),
             (ctx.target.nid, f"target platform {ctx.target.title}"),
             (ctx.source.web_server, f"web server {ctx.source.web_server_title}"),
             (ctx.site.db_server_nid, f"db server {ctx.site.db_server or ''}".rstrip())]
    out: dict[int, str] = {}
    for nid, role in roles:
        if nid:
            out[nid] = f"{out[nid]} and {role}" if nid in out else role
    return out


async def read_aegir(ctx: SiteMoveContext, cfg: DbConfig) -> AegirNow:
    """Raises HostmasterError (one line) when the hostmaster cannot be read."""
    async with HostmasterDB(cfg) as db:
        tasks = await db.active_tasks(watched_nodes(ctx))
        verified = await db.verified((ctx.site.nid, ctx.source.nid, ctx.target.nid))
    return AegirNow(tasks, verified)


def task_problems(ctx: SiteMoveContext, tasks: list[ActiveTask]) -> list[str]:
    names = watched_nodes(ctx)
    return [f"the hostmaster has a {t.status.label} {printable(t.task_type)} task (node {t.nid}) for the "
            f"{names.get(t.rid, 'node')} (node {t.rid}): let Aegir finish it (or cancel it) first" for t in tasks]


def newer_command(root: str, since: int, prune: str) -> str:
    """Print (NUL-terminated) the first package file under ``root`` changed after ``since``, nothing if none.

    Relative to ``root`` (cd), so no path from the database is ever a find pattern; ``find -P`` (the
    default) follows no symlink inside the tree, and ``-quit`` stops at the first match."""
    return (f"cd -- {q(root)} && find . \\( {prune} \\) -prune -o -type f {PACKAGE_FILES} "
            f"-newerct @{int(since)} -print0 -quit")


class Tree(NamedTuple):
    name: str  # what Aegir verifies: "platform X", "site X"
    what: str  # the code checked: "platform X", "site X's code"
    root: str
    since: int  # its verified time
    prune: str


async def freshness_problems(ctx: SiteMoveContext, verified: dict[int, int], m: Transport,
                             front: Transport | None) -> list[str]:
    """The target and source platforms and the site's own code on M, the site's code also on its single
    remote front (``front``: authoritative for it, fetched over M's copy by the run)."""
    site = Tree(f"site {ctx.uri}", f"site {ctx.uri}'s code", ctx.src_dir, verified.get(ctx.site.nid, 0),
                SITE_PRUNE)
    trees = [Tree(f"platform {p.title}", f"platform {p.title}", p.publish_path, verified.get(p.nid, 0),
                  PLATFORM_PRUNE) for p in (ctx.target, ctx.source)] + [site]
    problems = [f"{tree.name} was never verified in Aegir: verify it there first" for tree in trees
                if tree.since <= 0]
    checks: list[Awaitable[list[str]]] = [_changed(ctx.master, m, tree) for tree in trees if tree.since > 0]
    if front is not None and site.since > 0:
        checks.append(_changed(ctx.authoritative_front or ctx.fronts[0], front, site))
    for res in await asyncio.gather(*checks):
        problems += res
    return problems


async def _changed(host: str, t: Transport, tree: Tree) -> list[str]:
    res = await t.run(newer_command(tree.root, tree.since, tree.prune), timeout=120)
    found = res.stdout.split("\0", 1)[0]
    if found.startswith("./"):  # a match counts even if find then failed on an unreadable dir
        return [f"{host}: {tree.what} changed since its last verify at {_when(tree.since)} "
                f"({printable(tree.root + found[1:])}): verify it in Aegir first"]
    if res.outcome is not Outcome.OK:
        detail = (res.stderr or res.error or "").strip().splitlines()
        return [f"{host}: cannot tell whether {tree.what} changed since its last verify "
                f"({printable(tree.root)}): {printable(detail[-1]) if detail else 'failed'}"]
    return []


def printable(text: str) -> str:
    """One line for the user: control characters (a newline in a file name) shown as '?'."""
    return _CONTROL.sub("?", text)


def _when(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
