"""Remote shell snippets for the moves quick migrate makes, each safe to re-run.

Every snippet is bash, built from validated absolute paths quoted with ``sh_join``/``shlex.quote``.
A move is a rename on one mount (``mv -T``, with ``--no-copy`` where coreutils has it): it refuses
when the source and the destination's parent are on different filesystems or mounts, when both ends
exist (never merge), and it says so when the move already happened. Nothing here deletes a files
directory; the only deletions are of empty directories and of site code checked to hold no files.
"""

from __future__ import annotations

import posixpath
import shlex

q = shlex.quote

# Exit codes the steps interpret.
RC_BOTH = 3  # source and destination both exist
RC_MOUNT = 4  # different filesystem or mount
RC_LOST = 5  # neither exists
RC_NOT_EMPTY = 6  # a destination directory is not empty
RC_HAS_FILES = 7  # a site dir still holds a files entry
RC_MISSING = 8  # a required directory is missing

_PRELUDE = (
    "NC=; mv --help 2>/dev/null | grep -q -- --no-copy && NC=--no-copy; "
    "ex() { [ -e \"$1\" ] || [ -L \"$1\" ]; }; "
    "fsid() { stat -c '%d %m' -- \"$1\"; }; "
)


def move(src: str, dst: str, label: str) -> str:
    """Rename ``src`` to ``dst`` (creating ``dst``'s parent); prints ``@@INODE <label> <n>``."""
    parent = posixpath.dirname(dst)
    s, d, p = q(src), q(dst), q(parent)
    return (
        f"if ex {s}; then "
        f"if ex {d}; then echo \"qm: both {src} and {dst} exist; refusing to merge\" >&2; exit {RC_BOTH}; fi; "
        f"if mountpoint -q -- {s}; then echo \"qm: {src} is a mount point\" >&2; exit {RC_MOUNT}; fi; "
        f"mkdir -p -m 0700 -- {p}; "
        f"if [ \"$(fsid \"$(dirname -- {s})\")\" != \"$(fsid {p})\" ]; then "
        f"echo \"qm: {src} and {parent} are on different filesystems or mounts; mv would copy\" >&2; "
        f"exit {RC_MOUNT}; fi; "
        f"echo \"@@INODE {label} $(stat -c %i -- {s})\"; "
        f"mv -T $NC -- {s} {d}; sync -- {p} 2>/dev/null || true; "
        f"elif ex {d}; then echo \"qm: already moved: {dst}\"; echo \"@@INODE {label} $(stat -c %i -- {d})\"; "
        f"else echo \"qm: neither {src} nor {dst} exists\" >&2; exit {RC_LOST}; fi"
    )


def clear_empty_dir(path: str) -> str:
    """Remove ``path`` if it is an empty directory (made by a push); refuse if it has content."""
    p = q(path)
    return (
        f"if [ -d {p} ] && [ ! -L {p} ]; then "
        f"if [ -n \"$(ls -A -- {p})\" ]; then echo \"qm: {path} is not empty; refusing to merge\" >&2; "
        f"exit {RC_NOT_EMPTY}; fi; rmdir -- {p}; fi"
    )


def script(*parts: str) -> str:
    """Join snippets into one ``bash`` script that stops at the first failure."""
    return "set -e; " + _PRELUDE + "; ".join(parts)


def park(site_dir: str, park_dir: str) -> str:
    return script(
        f"mkdir -p -m 0700 -- {q(park_dir)}",
        move(f"{site_dir}/files", f"{park_dir}/files", "files"),
        move(f"{site_dir}/private/files", f"{park_dir}/private_files", "private_files"),
    )


def unpark(park_dir: str, site_dir: str, require_settings: bool = True) -> str:
    """Parked files back into ``site_dir``: empty dirs left by a push are removed, never merged."""
    parts = []
    if require_settings:
        # Without its code the site dir is not whole; keep the files parked (safe) and say why.
        parts.append(f"[ -f {q(site_dir + '/settings.php')} ] || {{ echo \"qm: {site_dir}/settings.php "
                     f"is missing; files stay parked in {park_dir}\" >&2; exit {RC_MISSING}; }}")
    parts += [
        f"if ex {q(park_dir + '/files')}; then {clear_empty_dir(site_dir + '/files')}; fi",
        move(f"{park_dir}/files", f"{site_dir}/files", "files"),
        f"if ex {q(park_dir + '/private_files')}; then mkdir -p -- {q(site_dir + '/private')}; "
        f"{clear_empty_dir(site_dir + '/private/files')}; fi",
        move(f"{park_dir}/private_files", f"{site_dir}/private/files", "private_files"),
        f"rmdir -- {q(park_dir)} 2>/dev/null || true",
    ]
    return script(*parts)


def where_are_files(site_dir: str, park_dir: str) -> str:
    """Prints one line per entry: ``<label> site|park|both|none``."""
    lines = []
    for label, in_site, in_park in (("files", f"{site_dir}/files", f"{park_dir}/files"),
                                    ("private_files", f"{site_dir}/private/files",
                                     f"{park_dir}/private_files")):
        lines.append(
            f"a=0; b=0; ex {q(in_site)} && a=1; ex {q(in_park)} && b=1; "
            f"case $a$b in 10) w=site;; 01) w=park;; 11) w=both;; *) w=none;; esac; "
            f"if [ $w = site ] && [ -d {q(in_site)} ] && [ ! -L {q(in_site)} ] "
            f"&& [ -z \"$(ls -A -- {q(in_site)})\" ]; then w=site-empty; fi; echo \"{label} $w\""
        )
    return script(*lines)


def guard_no_files(site_dir: str) -> str:
    """Fail when ``site_dir`` holds a files entry: nothing may rsync --delete over live files."""
    return script(
        f"for e in {q(site_dir + '/files')} {q(site_dir + '/private/files')}; do "
        f"if ex \"$e\"; then echo \"qm: $e exists; refusing to run a push over a site dir with files\" >&2; "
        f"exit {RC_HAS_FILES}; fi; done"
    )


def remove_site_dir(site_dir: str) -> str:
    """Remove a site dir's code, only after checking it holds no files entry."""
    s = q(site_dir)
    return script(
        f"if ! ex {s}; then echo \"qm: {site_dir} already gone\"; exit 0; fi",
        f"for e in {s}/files {s}/private/files; do if ex \"$e\"; then "
        f"echo \"qm: $e exists; refusing to remove {site_dir}\" >&2; exit {RC_HAS_FILES}; fi; done",
        f"rm -rf --one-file-system -- {s}",
    )


def exists(path: str) -> str:
    p = q(path)
    return f"if [ -e {p} ] || [ -L {p} ]; then echo yes; else echo no; fi"
