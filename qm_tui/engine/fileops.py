"""Remote shell snippets for the moves quick migrate makes, each safe to re-run.

Every snippet is bash, built from validated absolute paths quoted with ``sh_join``/``shlex.quote``.
A move is a rename on one mount (``mv -T``, with ``--no-copy`` where coreutils has it): it refuses
when the source and the destination's parent are on different filesystems or mounts, when both ends
exist (never merge), and it says so when the move already happened. Nothing here deletes a live files
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

_HAS_FILES = (
    # A real directory holding only directories (provision-verify's skeleton) holds no data;
    # a link, a file, or a directory with any non-directory inside might.
    "has_files() { ex \"$1\" || return 1; [ -L \"$1\" ] && return 0; [ -d \"$1\" ] || return 0; "
    "[ -n \"$(find \"$1\" -mindepth 1 ! -type d -print -quit)\" ]; }; "
)

_PRELUDE = (
    _HAS_FILES +
    "NC=; mv --help 2>/dev/null | grep -q -- --no-copy && NC=--no-copy; "
    "ex() { [ -e \"$1\" ] || [ -L \"$1\" ]; }; "
    # Device and mount point; findmnt also sees bind mounts of one filesystem (rename fails with EXDEV
    # across those too), where stat's %m only notices a change of device.
    "fsid() { echo \"$(stat -c %d -- \"$1\") $(findmnt -n -o TARGET -T \"$1\" 2>/dev/null "
    "|| stat -c %m -- \"$1\")\"; }; "
)


def move(src: str, dst: str, label: str, skeleton_done: bool = False) -> str:
    """Rename ``src`` to ``dst`` (creating ``dst``'s parent); prints ``@@INODE <label> <n>``.
    ``skeleton_done``: a ``src`` holding only empty directories (verify's skeleton) while ``dst``
    exists means the move already happened."""
    parent = posixpath.dirname(dst)
    s, d, p = q(src), q(dst), q(parent)
    done = (f"if ex {d} && ! has_files {s}; then echo \"qm: already moved: {dst} ({src} is an empty skeleton)\"; "
            f"echo \"@@INODE {label} $(stat -c %i -- {d})\"; el" if skeleton_done else "")
    return (
        f"{done}if ex {s}; then "
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


def script(*parts: str) -> str:
    """Join snippets into one ``bash`` script that stops at the first failure."""
    return "set -e; " + _PRELUDE + "; ".join(parts)


def park(site_dir: str, park_dir: str) -> str:
    """Files aside; where they already are (a restore that never happened) an empty skeleton a verify
    left in ``site_dir`` stays there."""
    return script(
        f"mkdir -p -m 0700 -- {q(park_dir)}",
        move(f"{site_dir}/files", f"{park_dir}/files", "files", skeleton_done=True),
        move(f"{site_dir}/private/files", f"{park_dir}/private_files", "private_files", skeleton_done=True),
    )


def unpark(park_dir: str, site_dir: str, require_settings: bool = True) -> str:
    """Parked files back into ``site_dir``, over the skeleton a verify made there (see ``move_into``)."""
    parts = []
    if require_settings:
        # Without its code the site dir is not whole; keep the files parked (safe) and say why.
        parts.append(f"[ -f {q(site_dir + '/settings.php')} ] || {{ echo \"qm: {site_dir}/settings.php "
                     f"is missing; files stay parked in {park_dir}\" >&2; exit {RC_MISSING}; }}")
    aside = swap_aside_dir(park_dir)
    parts += [
        move_into(f"{park_dir}/files", f"{site_dir}/files", "files", aside),
        move_into(f"{park_dir}/private_files", f"{site_dir}/private/files", "private_files", aside),
        f"rmdir -- {q(park_dir)} 2>/dev/null || true",
    ]
    return script(*parts)


def swap_aside_dir(park_dir: str) -> str:
    """Where a skeleton that live traffic wrote into is kept: beside the parking dirs (same filesystem),
    outside the ``<uri>.*`` names a later run's preflight refuses."""
    return f"{posixpath.dirname(park_dir)}/written-during-swap/{posixpath.basename(park_dir)}"


def move_into(src: str, dst: str, label: str, aside: str, optional: bool = False) -> str:
    """Rename ``src`` to ``dst``, where ``dst`` may be the skeleton provision-verify made (files/css,
    files/js...) and live traffic may be writing into it (CSS aggregation on the maintenance page,
    health checks): merge-free, whatever the timing. Empty directories of the skeleton are removed;
    a skeleton holding anything else is renamed aside (``@@ASIDE <label> <path>``), never merged nor
    deleted; then ``rename(2)`` moves ``src`` in, which also atomically replaces an empty ``dst`` made
    in between. A ``dst`` refilled between the two renames is retried (20 times), then refused with
    ``src`` still parked."""
    s, d, a = q(src), q(dst), q(aside)
    parent = q(posixpath.dirname(dst))
    attempt = (
        f"if ex {d}; then "
        f"if [ -L {d} ] || [ ! -d {d} ]; then echo \"qm: {dst} is not a directory; refusing to merge\" >&2; "
        f"exit {RC_NOT_EMPTY}; fi; "
        f"find {d} -depth -mindepth 1 -type d -empty -delete 2>/dev/null || true; "
        f"if [ -n \"$(find {d} -mindepth 1 -print -quit)\" ]; then "
        f"mkdir -p -m 0700 -- {a}; t={a}/{label}.$(date +%s%N); "
        f"mv -T $NC -- {d} \"$t\" && echo \"@@ASIDE {label} $t\" && "
        f"echo \"qm: {dst} held files written while it was a skeleton; kept in $t (review, then delete)\"; fi; "
        # rename(2) puts a directory over an empty one, but a symlink (shared storage) over none.
        f"rmdir -- {d} 2>/dev/null || true; fi; "
        f"if mv -T $NC -- {s} {d} 2>/dev/null; then ok=1; break; fi"
    )
    body = (
        f"if ex {s}; then "
        f"if mountpoint -q -- {s}; then echo \"qm: {src} is a mount point\" >&2; exit {RC_MOUNT}; fi; "
        f"mkdir -p -- {parent}; "
        f"if [ \"$(fsid \"$(dirname -- {s})\")\" != \"$(fsid {parent})\" ]; then "
        f"echo \"qm: {src} and {posixpath.dirname(dst)} are on different filesystems or mounts; mv would copy\" >&2; "
        f"exit {RC_MOUNT}; fi; "
        f"echo \"@@INODE {label} $(stat -c %i -- {s})\"; ok=; "
        f"for i in $(seq 20); do {attempt}; [ $i -lt 10 ] || sleep 0.05; done; "
        f"if [ -z \"$ok\" ]; then echo \"qm: {dst} kept being refilled; {src} stays parked\" >&2; "
        f"exit {RC_NOT_EMPTY}; fi; sync -- {parent} 2>/dev/null || true; "
        f"elif ex {d}; then echo \"qm: already moved: {dst}\"; echo \"@@INODE {label} $(stat -c %i -- {d})\"; "
        f"else echo \"qm: neither {src} nor {dst} exists\" >&2; exit {RC_LOST}; fi"
    )
    return f"if ex {s}; then {body}; fi" if optional else body


def where_are_files(site_dir: str, park_dir: str) -> str:
    """Prints one line per entry: ``<label> site|park|both|none``. An empty skeleton that a push left in
    the site dir does not count while the real entry is parked."""
    lines = []
    for label, in_site, in_park in (("files", f"{site_dir}/files", f"{park_dir}/files"),
                                    ("private_files", f"{site_dir}/private/files",
                                     f"{park_dir}/private_files")):
        s, p = q(in_site), q(in_park)
        lines.append(
            f"if ex {p} && ! has_files {s}; then w=park; elif ex {s} && ! ex {p}; then w=site; "
            f"elif ex {s} && ex {p}; then w=both; else w=none; fi; echo \"{label} $w\""
        )
    return script(*lines)


def set_aside_written(site_dir: str, park_dir: str) -> str:
    """While the site's real files are parked, a ``files`` (or ``private/files``) in ``site_dir`` holding
    anything is a skeleton live traffic wrote into: rename it aside (kept, ``@@ASIDE``) so no push
    deletes it and no check mistakes it for the real files. Only with the real entry in the park dir."""
    aside = swap_aside_dir(park_dir)
    parts = []
    for label, entry, parked in (("files", f"{site_dir}/files", f"{park_dir}/files"),
                                 ("private_files", f"{site_dir}/private/files", f"{park_dir}/private_files")):
        e, p, a = q(entry), q(parked), q(aside)
        parts.append(
            f"if ex {p} && [ -d {e} ] && [ ! -L {e} ] && has_files {e}; then mkdir -p -m 0700 -- {a}; "
            f"t={a}/{label}.$(date +%s%N); mv -T $NC -- {e} \"$t\" && echo \"@@ASIDE {label} $t\" && "
            f"echo \"qm: {entry} held files written while it was a skeleton; kept in $t (review, then delete)\"; fi")
    return "; ".join(parts)


def guard_no_files(site_dir: str, park_dir: str | None = None) -> str:
    """Fail when ``site_dir`` holds files: nothing may rsync --delete over live files. With ``park_dir``,
    what traffic wrote into a skeleton while the real files are parked there is set aside first."""
    return script(
        *([set_aside_written(site_dir, park_dir)] if park_dir else []),
        f"for e in {q(site_dir + '/files')} {q(site_dir + '/private/files')}; do "
        f"if has_files \"$e\"; then echo \"qm: $e holds files; refusing to run a push over it\" >&2; "
        f"exit {RC_HAS_FILES}; fi; done"
    )


def remove_site_dir(site_dir: str, park_dir: str | None = None) -> str:
    """Remove a site dir's code, only after checking it holds no files entry (``park_dir``: see
    ``guard_no_files``)."""
    s = q(site_dir)
    return script(
        f"if ! ex {s}; then echo \"qm: {site_dir} already gone\"; exit 0; fi",
        *([set_aside_written(site_dir, park_dir)] if park_dir else []),
        f"for e in {s}/files {s}/private/files; do if has_files \"$e\"; then "
        f"echo \"qm: $e exists; refusing to remove {site_dir}\" >&2; exit {RC_HAS_FILES}; fi; done",
        f"rm -rf --one-file-system -- {s}",
    )


def remove_aliases(platform_root: str, uri: str) -> str:
    """Drop the site's alias records from a platform it left, as provision's migrate does
    (``_provision_drupal_delete_aliases``): D7+ the ``$sites['<alias>'] = '<uri>';`` lines of
    ``sites/sites.php`` (rewritten by rename, other sites' lines kept), D6 the ``sites/<alias>``
    symlinks pointing at ``<uri>``. Prints ``@@ALIASES <n>``: how many are left (0 = done)."""
    f, sites, suffix = q(f"{platform_root}/sites/sites.php"), q(f"{platform_root}/sites"), q(f"= '{uri}';")
    mine = ('index($0, "$sites[") == 1 && length($0) > length(ENVIRON["U"]) && '
            'substr($0, length($0) - length(ENVIRON["U"]) + 1) == ENVIRON["U"]')
    return script(
        f"f={f}; export U={suffix}",
        f"if [ -f \"$f\" ] && awk '{mine} {{ found = 1 }} END {{ exit !found }}' \"$f\"; then "
        f"t=$(mktemp -- \"$f.qm.XXXXXX\"); awk '{mine} {{ print \"qm: removed \" $0 > \"/dev/stderr\"; next }} "
        f"{{ print }}' \"$f\" > \"$t\"; chmod --reference=\"$f\" -- \"$t\"; mv -f -- \"$t\" \"$f\"; fi",
        f"find -P {sites} -mindepth 1 -maxdepth 1 -type l -lname {q(uri)} -printf 'qm: removed alias link %p\\n' "
        f"-delete",
        f"n=$( {{ [ -f \"$f\" ] && awk '{mine}' \"$f\"; find -P {sites} -mindepth 1 -maxdepth 1 -type l "
        f"-lname {q(uri)}; }} | wc -l); echo \"@@ALIASES $n\"",
    )


def files_fingerprint(site_dir: str) -> str:
    """One line per entry (``files``, ``private_files``): ``link <target>`` for a symlink, else a hash of
    every file's and link's relative path, size and mtime: rsync's quick check, so two hosts printing
    the same are copies an ``rsync -a --delete`` from one to the other leaves as they are."""
    lines = []
    for label, entry in (("files", f"{site_dir}/files"), ("private_files", f"{site_dir}/private/files")):
        e = q(entry)
        lines.append(
            f"if [ -L {e} ]; then echo \"{label} link $(readlink -- {e})\"; elif [ -d {e} ]; then "
            f"echo \"{label} $(cd -- {e} && find -P . -xdev \\( -type f -o -type l \\) -printf '%s %T@ %P\\0' "
            f"| LC_ALL=C sort -z | sha256sum | cut -d' ' -f1)\"; else echo \"{label} none\"; fi")
    return script(*lines)


def exists(path: str) -> str:
    p = q(path)
    return f"if [ -e {p} ] || [ -L {p} ]; then echo yes; else echo no; fi"


def remove_site_names(aegir_root: str, uri: str) -> str:
    """A site name's vhosts (each web server's config dir on this host, apache and nginx) and its client
    symlinks (``~/clients/<client>/<uri>``): what a renamed site leaves under its old name. Never a
    directory, never anything outside those two places."""
    r, u = q(aegir_root), q(uri)
    return script(
        f"for f in {r}/config/*/*/vhost.d/{u}; do if [ -f \"$f\" ] || [ -L \"$f\" ]; then "
        f"rm -f -- \"$f\" && echo \"qm: removed $f\"; fi; done",
        f"for f in {r}/clients/*/{u}; do if [ -L \"$f\" ]; then rm -f -- \"$f\" && echo \"qm: removed $f\"; fi; done",
    )
