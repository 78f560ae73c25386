"""qm-tui's push of the site dir to a front, run with real rsync between two local trees.

The push runs ``rsync -a --delete`` over a front's site dir: its excludes are all that keeps a front's
live ``files`` (and ``private/files``, and a ``files`` symlink to shared storage) from being deleted if
anything wrote there after the guard. An anchored exclude is relative to the transfer root (``sites/``
here, the source has no trailing slash), so it must name ``<uri>/files``.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from qm_tui.engine.model import Platform, PlatformStatus, Site, SiteStatus
from qm_tui.engine.operations import MigrationContext
from qm_tui.engine.steps import PushSite

URI = "shop.example.org"


def ctx_for(tmp: Path) -> MigrationContext:
    def plat(nid: int, name: str) -> Platform:
        return Platform(nid, name, f"platform_{name}", str(tmp / "m" / name), 1, "web", PlatformStatus(1), "7.98",
                        ("web1",))

    site = Site(1, URI, SiteStatus(1), 2, "a", 3, "standard", None, 4, None, None, 0, "web", ("web1",))
    return MigrationContext(run_id="r-1", site=site, source=plat(2, "a"), target=plat(3, "b"), master="m",
                            master_title="m", fronts=("web1",), aegir_root=str(tmp), web_type="cluster",
                            drush_cmd="drush", templates={}, parking_dir="p", dump_dir="d", step_timeout=1,
                            long_timeout=1)


def local_push(ctx: MigrationContext, front_root: Path) -> None:
    """The step's exact command, with the front's ``host:path`` replaced by a local path (no ssh)."""
    guard, push = PushSite(ctx, "web1").commands(ctx)
    assert guard.host == "web1" and guard.role == "guard" and push.host == ctx.master
    argv = shlex.split(push.script)
    i = argv.index("-e")
    del argv[i:i + 2]
    assert argv[-1] == f"web1:{ctx.target.publish_path}/sites/"
    argv[-1] = str(front_root / "sites") + "/"
    subprocess.run(argv, check=True, capture_output=True)


def test_the_push_never_deletes_a_fronts_files(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path)
    src = Path(ctx.dst_dir)  # M's copy of the site dir on the target platform
    (src / "files").mkdir(parents=True)  # verify's empty skeleton
    (src / "private" / "files").mkdir(parents=True)
    (src / "settings.php").write_text("<?php\n")
    front = tmp_path / "front"
    site = front / "sites" / URI
    (site / "files" / "css").mkdir(parents=True)
    (site / "files" / "css" / "live.css").write_text("uploaded after the guard\n")
    (site / "private" / "files").mkdir(parents=True)
    (site / "private" / "files" / "invoice.pdf").write_text("private\n")
    (site / "stale.php").write_text("old code\n")
    local_push(ctx, front)
    assert (site / "files" / "css" / "live.css").read_text() == "uploaded after the guard\n"
    assert (site / "private" / "files" / "invoice.pdf").read_text() == "private\n"
    assert (site / "settings.php").exists() and not (site / "stale.php").exists(), "the code is mirrored"


def test_the_push_keeps_a_files_symlink_and_what_it_points_to(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path)
    src = Path(ctx.dst_dir)
    src.mkdir(parents=True)
    (src / "settings.php").write_text("<?php\n")
    shared = tmp_path / "gluster" / URI / "files"
    shared.mkdir(parents=True)
    (shared / "photo.jpg").write_text("shared\n")
    site = tmp_path / "front" / "sites" / URI
    site.mkdir(parents=True)
    (site / "files").symlink_to(shared)
    local_push(ctx, tmp_path / "front")
    assert (site / "files").is_symlink() and (shared / "photo.jpg").read_text() == "shared\n"
