"""Steps on the site's database: the dump every rollback restores, and a rename's path rewrite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..transport import Outcome
from .base import CREDENTIALS_STDIN, Command, Probe, Runtime, Step, expect_ok
from .site import restore_dump, restore_dump_manual

if TYPE_CHECKING:
    from ..operations.context import SiteMoveContext


class DumpDb(Step):
    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("dump_db", ctx.master, "Dump the site's database", long=True)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        from ..dbdump import dump_command

        return [Command(self.host, dump_command(ctx), f"mariadb-dump --single-transaction <site db> > {ctx.dump_path}",
                        stdin=CREDENTIALS_STDIN)]

    async def do(self, rt: Runtime) -> None:
        cmd = self.commands(rt.ctx)[0]
        res = await rt.with_db_credentials(self, self.host, cmd.script, timeout=rt.ctx.long_timeout,
                                           display=cmd.display)
        expect_ok(self, self.host, res, "dump")

    async def probe(self, rt: Runtime) -> Probe:
        from ..dbdump import verify_command

        res = await rt.sh(self, self.host, verify_command(rt.ctx), display=f"is {rt.ctx.dump_path} complete?")
        return Probe.DONE if res.outcome is Outcome.OK else Probe.NOT_DONE


class FixDbPaths(Step):
    """``sites/<old>/`` to ``sites/<new>/`` in the database (see ``dbpaths``). Undone by restoring the dump."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("fix_db_paths", ctx.master, f"Rewrite sites/{ctx.src_uri}/ paths in the database",
                         long=True)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        from ..dbpaths import fix_paths_command

        script = fix_paths_command(ctx.src_uri, ctx.dst_uri, f"{ctx.dump_path}.paths.sql")
        return [Command(self.host, script, f"mariadb <site db>: UPDATE ... REPLACE(..., 'sites/{ctx.src_uri}/', "
                        f"'sites/{ctx.dst_uri}/')  # file paths, text fields, path variables", stdin=CREDENTIALS_STDIN)]

    async def do(self, rt: Runtime) -> None:
        cmd = self.commands(rt.ctx)[0]
        res = await rt.with_db_credentials(self, self.host, cmd.script, timeout=rt.ctx.long_timeout,
                                           display=cmd.display)
        expect_ok(self, self.host, res, "path rewrite")

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.PARTIAL  # re-running is harmless; the undo restores the dump

    async def undo(self, rt: Runtime) -> None:
        await restore_dump(rt, self)

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return restore_dump_manual(ctx, self.host)
