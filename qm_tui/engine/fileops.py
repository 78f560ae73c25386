"""Remote shell snippets for the moves quick migrate makes, each safe to re-run.

Every snippet is bash, built from validated absolute paths quoted with ``sh_join``/``shlex.quote``.
A move is a rename on one mount (``mv -T``, with ``--no-copy`` where coreutils has it): it refuses
when the source and the destination's parent are on different filesystems or mounts, when both ends
exist (never merge), and it says so when the move already happened. Nothing here deletes a live files
directory; the only deletions are of empty directories, of site code checked to hold no files, and of
the hostmaster's set-aside stale copy after a success (``remove_set_aside_copy``).
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
RC_NOT_PARKED = 9  # a dir to remove as a set-aside copy holds something else
RC_LEFT = 10  # a set-aside copy could not be removed completely

_PRELUDE = (
    "NC=; mv --help 2>/dev/null | grep -q -- --no-copy && NC=--no-copy; "
    "ex() { [ -e \"$1\" ] || [ -L \"$1\" ]; }; "
    # Device and mount point; findmnt also sees bind mounts of one filesystem (rename fails with EXDEV
    # across those too), where stat's %m only notices a change of device.
    "fsid() { echo \"$(stat -c %d -- \"$1\") $(findmnt -n -o TARGET -T \"$1\" 2>/dev/null "
    "|| stat -c %m -- \"$1\")\"; }; "
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
    """Remove ``path`` if it is a directory holding only directories (provision-verify makes such a
    skeleton: files/css, files/js, ...); refuse if it holds any file or link. ``find -type d
    -delete`` can only remove empty directories, so nothing else can go."""
    p = q(path)
    return (
        f"if [ -d {p} ] && [ ! -L {p} ]; then "
        f"if [ -n \"$(find {p} -mindepth 1 ! -type d -print -quit)\" ]; then "
        f"echo \"qm: {path} is not empty; refusing to merge\" >&2; exit {RC_NOT_EMPTY}; fi; "
        f"find {p} -depth -type d -delete; fi"
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
        move_into(f"{park_dir}/files", f"{site_dir}/files", "files"),
        move_into(f"{park_dir}/private_files", f"{site_dir}/private/files", "private_files"),
        f"rmdir -- {q(park_dir)} 2>/dev/null || true",
    ]
    return script(*parts)


def move_into(src: str, dst: str, label: str, optional: bool = False) -> str:
    """Move ``src`` to ``dst`` where ``dst`` may be an empty dir left by a push (removed first)."""
    body = (f"if ex {q(src)}; then mkdir -p -- {q(posixpath.dirname(dst))}; {clear_empty_dir(dst)}; fi; "
            + move(src, dst, label))
    return f"if ex {q(src)}; then {body}; fi" if optional else body


def where_are_files(site_dir: str, park_dir: str) -> str:
    """Prints one line per entry: ``<label> site|park|both|none``. An empty skeleton that a push left in
    the site dir does not count while the real entry is parked."""
    lines = [_HAS_FILES.rstrip("; ")]
    for label, in_site, in_park in (("files", f"{site_dir}/files", f"{park_dir}/files"),
                                    ("private_files", f"{site_dir}/private/files",
                                     f"{park_dir}/private_files")):
        s, p = q(in_site), q(in_park)
        lines.append(
            f"if ex {p} && ! has_files {s}; then w=park; elif ex {s} && ! ex {p}; then w=site; "
            f"elif ex {s} && ex {p}; then w=both; else w=none; fi; echo \"{label} $w\""
        )
    return script(*lines)


_HAS_FILES = (
    # A real directory holding only directories (provision-verify's skeleton) holds no data;
    # a link, a file, or a directory with any non-directory inside might.
    "has_files() { ex \"$1\" || return 1; [ -L \"$1\" ] && return 0; [ -d \"$1\" ] || return 0; "
    "[ -n \"$(find \"$1\" -mindepth 1 ! -type d -print -quit)\" ]; }; "
)


def guard_no_files(site_dir: str) -> str:
    """Fail when ``site_dir`` holds files: nothing may rsync --delete over live files."""
    return script(
        _HAS_FILES + f"for e in {q(site_dir + '/files')} {q(site_dir + '/private/files')}; do "
        f"if has_files \"$e\"; then echo \"qm: $e holds files; refusing to run a push over it\" >&2; "
        f"exit {RC_HAS_FILES}; fi; done"
    )


def remove_site_dir(site_dir: str) -> str:
    """Remove a site dir's code, only after checking it holds no files entry."""
    s = q(site_dir)
    return script(
        _HAS_FILES + f"if ! ex {s}; then echo \"qm: {site_dir} already gone\"; exit 0; fi",
        f"for e in {s}/files {s}/private/files; do if has_files \"$e\"; then "
        f"echo \"qm: $e exists; refusing to remove {site_dir}\" >&2; exit {RC_HAS_FILES}; fi; done",
        f"rm -rf --one-file-system -- {s}",
    )


def remove_set_aside_copy(park_dir: str) -> str:
    """Remove the hostmaster's set-aside stale copy of files (``park_dir`` holding only ``files`` and
    ``private_files``), after a success; never a live files directory.

    ``rm -rf`` alone cannot descend into a directory without u+rwx (a mode-000 dir in the copy), so
    such directories are first made u+rwx: ``find`` visits a directory before it reads it, so the
    ``chmod`` (one per such dir, ``\\;`` not ``+``) comes before the descent. ``find -P`` never follows
    a symlink, ``-xdev``/``--one-file-system`` never leave the park dir's filesystem; the park dir is
    0700 and aegir's, so nobody else can swap a directory for a link in between.
    """
    p = q(park_dir)
    return script(
        f"if ! ex {p}; then echo \"qm: {park_dir} already gone\"; exit 0; fi",
        f"if [ -L {p} ] || [ ! -d {p} ]; then echo \"qm: {park_dir} is not a directory; refusing to remove it\" >&2; "
        f"exit {RC_NOT_PARKED}; fi",
        f"if [ -n \"$(find {p} -mindepth 1 -maxdepth 1 ! -name files ! -name private_files -print -quit)\" ]; then "
        f"echo \"qm: {park_dir} holds more than a set-aside copy of files; refusing to remove it\" >&2; "
        f"exit {RC_NOT_PARKED}; fi",
        f"find {p} -xdev -type d ! -perm -0700 -exec chmod u+rwx -- {{}} \\; || true",
        f"rm -rf --one-file-system -- {p} || true",
        f"if ex {p}; then echo \"qm: {park_dir} could not be removed completely\" >&2; exit {RC_LEFT}; fi",
    )


def exists(path: str) -> str:
    p = q(path)
    return f"if [ -e {p} ] || [ -L {p} ]; then echo yes; else echo no; fi"
