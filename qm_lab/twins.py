"""Twin platforms: a second, identical platform so a site can quick-migrate back and forth forever.

A normal migrate goes to a newer platform and cannot come back (that would be a schema downgrade).
Crash-recovery tests need many migrations of one site in a row, so ``add_twin_platform`` registers a
copy of a platform: same core, same code (every comparison is "same" both ways, each is a selectable
target for the other), same web server; its own title, nid, context and publish path (next to the
original's). It is created and verified through the scenario's builder, so its package instances,
profile sets and verify task are what ``hosting_package_instance_sync`` would have stored.

Opt-in only (``build_lab(twins=...)``, ``build_local(twins=...)``): a world without twins is unchanged.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from .scenario import _Builder
from .world import Platform, Server, World, platform_context


def add_twin_platform(world: World, title: str, twin_title: str) -> Platform:
    """Register and verify ``twin_title`` as a twin of the live platform ``title``; return it.

    The twin's publish path is ``<dirname of the original's>/<twin_title>``. Raises KeyError for an
    unknown platform, ValueError when the original is not a live verified platform or the twin's
    title, context or path is already taken.
    """
    src = world.platform(title)
    if src.status != 1 or not src.context or not src.verified:
        raise ValueError(f"{title}: only an enabled, verified platform can have a twin")
    path = posixpath.join(posixpath.dirname(src.publish_path), twin_title)
    ctx = platform_context(twin_title)
    for p in world.platforms:
        if twin_title in (p.title, *(h.title for h in p.history)) or p.context == ctx or p.publish_path == path:
            raise ValueError(f"twin {twin_title!r} clashes with platform {p.title!r}")
    server = world.node(src.web_server)
    assert isinstance(server, Server), f"{title}: web server {src.web_server} is not a server node"
    # Fresh CodeExt list (they are frozen: sharing items is fine, sharing the list is not).
    twin = _Builder(world).platform(twin_title, src.core_version, server, list(src.exts), path=path)
    twin.makefile, twin.make_working_copy = src.makefile, src.make_working_copy
    twin.client_access = list(src.client_access)
    if world.rid_collisions():  # a profile-set iid equal to a nid would confuse the eligibility reads
        raise ValueError(f"twin {twin_title!r}: profile iids collide with nids; raise World.iid_base")
    return twin


def add_twins(world: World, twins: Iterable[tuple[str, str]]) -> list[Platform]:
    """``add_twin_platform`` for each (title, twin_title) pair, in order."""
    return [add_twin_platform(world, title, twin) for title, twin in twins]
