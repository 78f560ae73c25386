"""Engine entry points shared by the CLI and the TUI: open the hostmaster, list, compare."""

from __future__ import annotations

from ..config import Config
from .hostmaster_db import HostmasterDB
from .inventory import NotFound, Snapshot, find_platform, find_site, load_inventory

__all__ = ["NotFound", "find_platform", "find_site", "load"]


async def load(cfg: Config, include_deleted: bool = False) -> Snapshot:
    async with HostmasterDB(cfg.hostmaster.db) as db:
        return await load_inventory(db, include_deleted=include_deleted)
