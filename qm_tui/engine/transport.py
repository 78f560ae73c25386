"""Command transports: run shell commands on the Aegir hosts, with three outcomes and killable groups.

    pool = TransportPool(config.ssh)
    t = await pool.get("web1.example.org")          # TransportError if unreachable / key refused
    r = await t.run(sh_join(["rsync", ...]), timeout=600, on_line=show, on_pgid=journal_pgid)
    if r.outcome is Outcome.UNKNOWN and r.pgid:     # e.g. the connection dropped: it may still run
        await t.kill_group(r.pgid)
    await pool.close_all()

* OK: exit 0. FAILED: exit != 0 ("exit N") or killed by a signal ("killed by SIGTERM").
* UNKNOWN: no exit status seen: connection lost, session closed, or timed out (the group is killed
  first). On a lost connection the command may still be running: call kill_group(pgid) to settle.
* Cancelling the awaiting task kills the command's process group, then re-raises CancelledError.
* TransportError: the command certainly did not start.

Split over transport_base.py (types, shared run loop), transport_ssh.py and transport_local.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..config import SshConfig
from .transport_base import (
    KILL_GRACE,
    MAX_CHANNELS,
    CmdResult,
    LineCallback,
    Outcome,
    PgidCallback,
    Transport,
    TransportError,
)
from .transport_local import LocalTransport

if TYPE_CHECKING:
    from .transport_ssh import SshTransport

__all__ = ["CmdResult", "LineCallback", "LocalTransport", "Outcome", "PgidCallback", "SshTransport",
           "Transport", "TransportError", "TransportPool"]


class TransportPool:
    """One transport per host for a whole run; hosts named in `local_names` run on this machine."""

    def __init__(self, ssh: SshConfig, *, local_names: Iterable[str] = ("localhost",),
                 kill_grace: float = KILL_GRACE, max_channels: int = MAX_CHANNELS) -> None:
        self.ssh = ssh
        self.local_names = frozenset(local_names)
        self.kill_grace = kill_grace
        self.max_channels = max_channels
        self._transports: dict[str, Transport] = {}

    def transport(self, host: str) -> Transport:
        """The host's transport, created on first use but not connected yet."""
        t = self._transports.get(host)
        if t is None:
            if host in self.local_names:
                t = LocalTransport(host, kill_grace=self.kill_grace)
            else:
                from .transport_ssh import SshTransport  # asyncssh costs ~0.2 s to import: only when needed

                t = SshTransport(host, self.ssh, kill_grace=self.kill_grace, max_channels=self.max_channels)
            self._transports[host] = t
        return t

    async def get(self, host: str) -> Transport:
        """The host's transport, connected (raises TransportError naming host and cause)."""
        t = self.transport(host)
        await t.connect()
        return t

    async def close_all(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        await asyncio.gather(*(t.close() for t in transports), return_exceptions=True)


def __getattr__(name: str) -> Any:
    if name == "SshTransport":
        from .transport_ssh import SshTransport

        return SshTransport
    raise AttributeError(name)
