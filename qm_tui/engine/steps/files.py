"""Steps that move the site's directories: files parked and restored by rename on every host, the site
dir moved on the hostmaster and pushed to the fronts, the old one removed. Nothing here copies or
deletes a files directory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import fileops
from ..fileops import q
from ..safety import sh_join
from .base import (
    SSH_OPTS,
    Command,
    Probe,
    Role,
    Runtime,
    Step,
    StepFailed,
    inodes,
    manual_mv,
    manual_rm,
    run,
    run_sh,
    sites_php_lock,
)

if TYPE_CHECKING:
    from ..operations.context import SiteMoveContext


def _moves(pairs: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"mv -T {q(a)} {q(b)}" for a, b in pairs)


def park_display(site_dir: str, park_dir: str) -> str:
    return (_moves([(f"{site_dir}/files", f"{park_dir}/files"),
                    (f"{site_dir}/private/files", f"{park_dir}/private_files")])
            + "  # rename aside (never copied; refused across filesystems)")


def unpark_display(park_dir: str, site_dir: str) -> str:
    return (_moves([(f"{park_dir}/files", f"{site_dir}/files"),
                    (f"{park_dir}/private_files", f"{site_dir}/private/files")])
            + "  # rename back, over verify's empty skeleton (never merged)")


def guard_display(site_dir: str) -> str:
    return f"test ! has-files {q(site_dir + '/files')} {q(site_dir + '/private/files')}  # guard before a push"


def aliases_display(platform_root: str, uri: str) -> str:
    return f"sed -i \"/= '{uri}';$/d\" {q(platform_root + '/sites/sites.php')}  # and D6 alias links to {uri}"


def remove_display(site_dir: str) -> str:
    return f"rm -rf {q(site_dir)}  # only once it holds no files entry"


class ParkFiles(Step):
    """Rename the site's files and private/files aside, on one front or on the hostmaster.

    On a cluster provision treats M's copy as authoritative (every later Aegir verify pushes it to
    the members with --delete), so M's copy moves with the site exactly like a front's: never
    deleted, never left behind on the old platform."""

    def __init__(self, ctx: SiteMoveContext, front: str) -> None:
        super().__init__("park_files", front, f"Park files on {front}", group="park")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, fileops.park(ctx.src_dir, ctx.park_dir), park_display(ctx.src_dir, ctx.park_dir))]

    async def do(self, rt: Runtime) -> None:
        self.data["inodes"] = inodes(await run(rt, self, self.commands(rt.ctx)[0]))

    async def probe(self, rt: Runtime) -> Probe:
        return await where_probe(rt, self, rt.ctx.src_dir, rt.ctx.park_dir, want="park")

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        await run_sh(rt, self, self.host, fileops.unpark(ctx.park_dir, ctx.src_dir),
                     display=unpark_display(ctx.park_dir, ctx.src_dir))

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, manual_mv(f"{ctx.park_dir}/files", f"{ctx.src_dir}/files")),
                (self.host, manual_mv(f"{ctx.park_dir}/private_files", f"{ctx.src_dir}/private/files"))]


async def where_probe(rt: Runtime, step: Step, site_dir: str, park_dir: str, want: str) -> Probe:
    res = await run_sh(rt, step, step.host, fileops.where_are_files(site_dir, park_dir), "probe",
                       display=f"where are the files: {site_dir} or {park_dir}?")
    states = [line.split()[1] for line in res.stdout.splitlines() if line.strip()]
    if all(s == want for s in states):
        return Probe.DONE
    if all(s == ("site" if want == "park" else "park") for s in states):
        return Probe.NOT_DONE
    if "none" in states:
        raise StepFailed(f"{step.host}: {step.name}: files are in neither {site_dir} nor {park_dir}")
    return Probe.PARTIAL


class RestoreFiles(Step):
    """Move the parked files into the site's new dir, on one front or on the hostmaster."""

    def __init__(self, ctx: SiteMoveContext, front: str) -> None:
        super().__init__("restore_files", front, f"Move files into the new site dir on {front}",
                         group="restore")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, fileops.unpark(ctx.park_dir, ctx.dst_dir),
                        unpark_display(ctx.park_dir, ctx.dst_dir))]

    async def do(self, rt: Runtime) -> None:
        self.data["inodes"] = inodes(await run(rt, self, self.commands(rt.ctx)[0]))

    async def probe(self, rt: Runtime) -> Probe:
        return await where_probe(rt, self, rt.ctx.dst_dir, rt.ctx.park_dir, want="site")

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        await run_sh(rt, self, self.host, fileops.park(ctx.dst_dir, ctx.park_dir),
                     display=park_display(ctx.dst_dir, ctx.park_dir))

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, manual_mv(f"{ctx.dst_dir}/files", f"{ctx.park_dir}/files")),
                (self.host, manual_mv(f"{ctx.dst_dir}/private/files", f"{ctx.park_dir}/private_files"))]


class PushSite(Step):
    """rsync the new site dir from M to one front; excluded paths (files) are protected from --delete."""

    def __init__(self, ctx: SiteMoveContext, front: str) -> None:
        super().__init__("push_site", ctx.master, f"Push the site dir to {front}", group="push", long=True)
        self.front = front

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        # No trailing slash on the source, so the transfer root is sites/ and the anchored excludes name
        # <uri>/files (a `files` symlink is matched too): excluded paths are never deleted on the front.
        uri = ctx.dst_uri
        rsync = sh_join(["rsync", "-a", "--delete", f"--exclude=/{uri}/files", f"--exclude=/{uri}/private/files",
                         "-e", SSH_OPTS, ctx.dst_dir, f"{self.front}:{ctx.target.publish_path}/sites/"])
        return [Command(self.front, fileops.guard_no_files(ctx.dst_dir, ctx.park_dir), guard_display(ctx.dst_dir),
                        role=Role.GUARD),
                Command(self.host, rsync)]

    async def probe(self, rt: Runtime) -> Probe:
        # rsync may have stopped half-way: a dir without settings.php is a partial copy to undo.
        complete = (await run_sh(rt, self, self.front, fileops.exists(rt.ctx.dst_dir + "/settings.php"))).stdout
        if complete.strip() == "yes":
            return Probe.DONE
        started = (await run_sh(rt, self, self.front, fileops.exists(rt.ctx.dst_dir))).stdout
        return Probe.PARTIAL if started.strip() == "yes" else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        await run_sh(rt, self, self.front, fileops.remove_site_dir(ctx.dst_dir, ctx.park_dir),
                     display=remove_display(ctx.dst_dir))

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.front, manual_rm(ctx.dst_dir))]


class RemoveOldSiteDir(Step):
    def __init__(self, ctx: SiteMoveContext, front: str) -> None:
        super().__init__("remove_old_site_dir", front, f"Remove the old site dir on {front}", group="remove")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, fileops.remove_site_dir(ctx.src_dir), remove_display(ctx.src_dir))]

    async def probe(self, rt: Runtime) -> Probe:
        res = await run_sh(rt, self, self.host, fileops.exists(rt.ctx.src_dir))
        return Probe.DONE if res.stdout.strip() == "no" else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        # The rollback verify on the source pushes the code back; the parked files need the dir to exist.
        await run_sh(rt, self, self.host, sh_join(["mkdir", "-p", "--", rt.ctx.src_dir]))

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, sh_join(["mkdir", "-p", "--", ctx.src_dir]))]


class RemoveOldAliases(Step):
    """The site's alias records on the platform it left (``sites/sites.php``, D6 links), removed as
    provision's migrate does, on M and on every remote front (provision pushes sites.php to each).
    No undo: the rollback's verify on the source (MoveSiteDir's undo, later) writes them back, as
    provision's verify maintains a site's aliases."""

    def __init__(self, ctx: SiteMoveContext, host: str) -> None:
        super().__init__("remove_old_aliases", host, f"Remove the site's aliases from the old platform on {host}",
                         group="aliases")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, fileops.remove_aliases(ctx.source.publish_path, ctx.src_uri),
                        aliases_display(ctx.source.publish_path, ctx.src_uri))]

    async def do(self, rt: Runtime) -> None:
        async with sites_php_lock(rt.ctx.source.publish_path):
            await super().do(rt)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # re-running is harmless


class FetchCode(Step):
    """A single remote web server (or a pack's master) is authoritative for the site dir, as in
    provision's fetch: its code, local.settings.php and all of private/ (D8+ config sync, temp) come to
    M first; the push carries them to the new site dir and the old one is removed. Only the files,
    moved by rename, are not copied."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("fetch_code", ctx.master, f"Fetch the site's code and private/ from {ctx.authoritative_front}")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        # One rsync (one ssh session) for every part; a part missing on the front is skipped. Each
        # source's transfer root is the site dir, so /private/files is anchored there: never copied,
        # never deleted (excluded), and parked by then anyway.
        parts = [f"{ctx.authoritative_front}:{ctx.src_dir}/{p}"
                 for p in ("modules", "themes", "libraries", "local.settings.php", "private")]
        return [Command(self.host, sh_join(["rsync", "-a", "--delete", "--ignore-missing-args",
                                            "--exclude=/private/files", "-e", SSH_OPTS, *parts, ctx.src_dir + "/"]))]

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # re-running the fetch is harmless


class MoveSiteDir(Step):
    """On M: the site dir to its new place (another platform, or another name). Its undo also puts the
    site's drush context back as it was and verifies it there (the alias root drush needs for maintenance
    off; settings.php, vhosts and code on the fronts)."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        title = "Rename the site dir" if ctx.renamed and ctx.source.nid == ctx.target.nid else \
            "Move the site dir to the new platform"
        super().__init__("move_site_dir", ctx.master, title)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, fileops.script(fileops.move(ctx.src_dir, ctx.dst_dir, "site_dir")),
                        f"mv -T {q(ctx.src_dir)} {q(ctx.dst_dir)}")]

    async def probe(self, rt: Runtime) -> Probe:
        ctx = rt.ctx
        a = (await run_sh(rt, self, self.host, fileops.exists(ctx.src_dir))).stdout.strip() == "yes"
        b = (await run_sh(rt, self, self.host, fileops.exists(ctx.dst_dir))).stdout.strip() == "yes"
        if a and b:
            raise StepFailed(f"{self.host}: {self.name}: both {ctx.src_dir} and {ctx.dst_dir} exist")
        return Probe.DONE if b else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        await run_sh(rt, self, self.host, fileops.script(
            f"if ex {q(ctx.dst_dir)}; then " + fileops.move(ctx.dst_dir, ctx.src_dir, "site_dir") + "; fi"),
            display=f"mv -T {q(ctx.dst_dir)} {q(ctx.src_dir)}")
        save, verify = source_context_commands(ctx)[:2]  # hosting-import is the bookkeeping step's undo, last
        await run_sh(rt, self, self.host, save)
        await guard_fronts(rt, self, ctx.src_dir)
        async with sites_php_lock(ctx.source.publish_path):
            await run_sh(rt, self, self.host, verify)

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, manual_mv(ctx.dst_dir, ctx.src_dir, clear=False))] + [
            (self.host, c) for c in source_context_commands(ctx)[:2]]


def source_context_commands(ctx: SiteMoveContext) -> list[str]:
    """The source's context back: provision-save, verify, hosting-import (and Aegir's verify task)."""
    src = ctx.source
    return [
        ctx.drush_src("provision_save", platform_context=src.context or "", platform_root=src.publish_path,
                      profile=ctx.source_profile),
        ctx.drush_src("verify"),
        ctx.drush_src("import"),
        *([ctx.drush_src("verify_task")] if ctx.aegir_verify_task else []),
    ]


def guard_commands(ctx: SiteMoveContext, site_dir: str) -> list[Command]:
    """Before anything pushes with --delete: no front (nor M) may have files inside ``site_dir`` (what
    traffic wrote into a skeleton while the real files are parked is set aside first, kept)."""
    return [Command(h, fileops.guard_no_files(site_dir, ctx.park_dir), guard_display(site_dir), role=Role.GUARD)
            for h in dict.fromkeys([ctx.master, *ctx.fronts])]


async def guard_fronts(rt: Runtime, step: Step, site_dir: str) -> None:
    for cmd in guard_commands(rt.ctx, site_dir):
        await run(rt, step, cmd)


def names_display(ctx: SiteMoveContext, uri: str) -> str:
    root = ctx.aegir_root
    return (f"rm -f {q(root)}/config/*/*/vhost.d/{q(uri)}; rm -f {q(root)}/clients/*/{q(uri)}  "
            f"# the vhosts and client link of {uri}")


class RemoveOldVhosts(Step):
    """A renamed site's old vhosts (every web server's config dir) and client link, removed before the
    verify under the new name, whose web server reload then stops serving the old name (provision's
    rename deletes the old vhost, #2854360). No undo: the rollback's verify under the old name (the site
    dir's undo) writes them again."""

    def __init__(self, ctx: SiteMoveContext, host: str) -> None:
        super().__init__("remove_old_vhosts", host, f"Remove the old name's vhosts on {host}", group="vhosts")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, fileops.remove_site_names(ctx.aegir_root, ctx.src_uri),
                        names_display(ctx, ctx.src_uri))]

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # re-running is harmless
