"""Validation of untrusted names and paths, and shell quoting for remote commands.

Site URIs, platform paths and server names come from the hostmaster database: they are untrusted.
Everything that reaches a shell goes through ``sh_join``; everything that names a path is checked to
be a normalised absolute path under ``aegir_root``.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable

from ..errors import QmError

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_]{1,235}$")


class UnsafeValue(QmError):
    """A value from the database that must not be used (hostile or corrupt)."""


def check_uri(uri: str) -> str:
    """A site URI is a lower-case host name (Aegir lower-cases titles on save)."""
    if not isinstance(uri, str) or not _HOSTNAME.fullmatch(uri):
        raise UnsafeValue(f"site name {uri!r} is not a valid host name; refusing to use it")
    return uri


def check_host(host: str) -> str:
    if not isinstance(host, str) or not _HOSTNAME.fullmatch(host.lower()):
        raise UnsafeValue(f"server name {host!r} is not a valid host name; refusing to use it")
    return host


def check_context(name: str) -> str:
    if not isinstance(name, str) or not _CONTEXT.fullmatch(name):
        raise UnsafeValue(f"drush context name {name!r} is not valid; refusing to use it")
    return name


def check_path(path: str, root: str, what: str = "path") -> str:
    """An absolute, normalised path strictly under ``root`` (no ``..``, no control characters)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise UnsafeValue(f"{what} {path!r} is not an absolute path")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise UnsafeValue(f"{what} {path!r} contains control characters")
    norm = posixpath.normpath(path)
    root_n = posixpath.normpath(root)
    if norm != path.rstrip("/") or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise UnsafeValue(f"{what} {path!r} is not a normalised path")
    if not norm.startswith(root_n.rstrip("/") + "/"):
        raise UnsafeValue(f"{what} {path!r} is not under {root_n}")
    return norm


def sh_join(argv: Iterable[str | int]) -> str:
    """Quote every word for a POSIX shell."""
    return " ".join(shlex.quote(str(a)) for a in argv)
