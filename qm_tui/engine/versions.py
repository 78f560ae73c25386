"""Semantic comparison of Drupal version strings (pure, no IO).

Aegir ranks versions through ``version_code``, a number built by two regular expressions
(research brief §2.2). It gets the cases a migration cares about wrong: Drupal 10.1.2 ranks below
9.x, 8.6.1 equals 8.6.15, ``7.x-1.x-dev`` ranks below ``7.x-1.0`` and ``7.x-1.0+5-dev`` equals 1.0.
This module parses the strings instead and compares them part by part.

Grammar accepted (case-insensitive, surrounding blanks ignored)::

    version  := [compat ".x-"] numbers [".x"] [pre] [build]
    numbers  := N ("." N)*                     2 to 4 parts in all, counting a trailing ".x"
    pre      := "-" (dev|unstable|alpha|beta|rc) ["."] [N]
    build    := "+" N "-dev"                   git build N commits after the tag before it

Examples: ``7.98``, ``7.0-beta12``, ``7.99-dev``, ``10.2.3``, ``10.2.0-rc1``, ``9.5.x-dev``,
``7.x-3.29``, ``7.x-1.0-beta10``, ``7.x-2.x-dev``, ``7.x-1.0+5-dev``, ``8.x-1.5``, ``2.1.0``,
``2.1.0-alpha3``, ``2.1.x-dev``, ``3.x-dev``.

Decisions for the ambiguous cases (each one is pinned by a test):

* **Unknown.** ``None``, ``''``, ``Unknown``, the unreplaced ``VERSION`` placeholder and anything
  outside the grammar (``"custom"``, ``"1"``, ``"1.2.3.4.5"``, ``"7.x-foo"``) parse to ``None``.
  Nothing here raises on bad input: the hostmaster's data is free text written by ``.info`` files.
  An unknown version is neither older nor newer than anything (``compare_versions`` returns None).
* **Release types** of the same number rank ``dev < unstable < alpha < beta < rc < release``, and
  the number after the type is numeric (``beta10 > beta2``; no number counts as 0). ``10.2.4-dev``
  (what core's ``VERSION`` says between tags) is therefore newer than 10.2.3 and older than 10.2.4.
* **Git builds.** ``1.0+5-dev`` is the tag 1.0 plus 5 commits: newer than 1.0 (and than
  ``1.0+4-dev``), older than anything numbered 1.0.1/1.1 or later, including ``1.1-alpha1``.
  A build on a pre-release (``1.0-beta2+3-dev``) sits between ``1.0-beta2`` and ``1.0-beta3``.
* **Branch snapshots** (``7.x-2.x-dev``, ``9.5.x-dev``, ``2.1.x-dev``, ``3.x-dev``) are the head of a
  moving branch. We rank a branch above every release and build of its own line (``7.x-2.x-dev`` >
  ``7.x-2.7`` > ``7.x-2.0``) and below the next line (``7.x-2.x-dev`` < ``7.x-3.0-alpha1``;
  ``9.5.x-dev`` < ``9.6.0``). Sites move to a dev branch to get fixes that are not tagged yet, so
  "branch below its tags" (Aegir's behaviour) turns an ordinary upgrade into a downgrade warning.
  A wider branch contains a narrower one: ``2.x-dev`` > ``2.1.x-dev``. The installed schema, which
  is compared separately, is what catches real downgrades.
* **Trailing zeros** do not matter: ``1.5`` == ``1.5.0``.
* **Core-compatibility prefix.** In ``7.x-1.0`` the ``7.x`` is the most significant part:
  ``6.x-3.9 < 7.x-1.0 < 8.x-1.0``. From Drupal 8 on, a contrib branch is no longer tied to one core
  major (``core_version_requirement``), and drupal.org moved contrib to semantic versioning with
  ``8.x-1.5`` continuing as ``1.5.0``. So every prefix >= 8 is one bucket compared by the numbers
  after it, and a plain (unprefixed) version compared with such a prefix drops the prefix:
  ``8.x-1.5 == 1.5.0 < 1.6.0``, ``8.x-2.0 > 1.6.0``.
* **Prefix <= 7 against a plain version.** Semantic versions (3 parts, counting ``.x``) only exist
  for Drupal 8 and later, so such a plain version is newer than any ``6.x-``/``7.x-`` release:
  ``7.x-3.29 < 2.1.0``. A 2-part plain version (``7.98``, ``3.x-dev``) against a ``6.x-``/``7.x-``
  release is a core version against a contrib one, or a guess either way: **not comparable**
  (``compare_versions`` returns None, like an unknown).
* **Plain against plain** compares the numbers: core ``7.98 < 8.0.0 < 9.5.11 < 10.1.2``, and
  ``8.6.15 > 8.6.1``. A core version and a semver contrib version look the same; a package has one
  or the other on both sides, so this does not arise for the same package.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

__all__ = [
    "STABILITIES",
    "DrupalVersion",
    "compare_versions",
    "core_major",
    "parse_version",
    "version_sort_key",
]

#: Release types, lowest first. ``release`` is the implicit type of a version with no suffix.
STABILITIES: tuple[str, ...] = ("dev", "unstable", "alpha", "beta", "rc", "release")
_STABILITY_RANK = {name: rank for rank, name in enumerate(STABILITIES)}

#: Longest version number accepted, counting a trailing ``.x``.
_MAX_PARTS = 4
#: Stands for the ``x`` of a branch: above every real number in that position.
_BRANCH = 1 << 62
#: From this core major on, a contrib prefix no longer pins the core major (see module docstring).
_MODERN_COMPAT = 8

_PREFIXED = re.compile(r"(?P<compat>\d+)\.x-(?P<rest>.+)")
_BODY = re.compile(
    r"""
    (?P<nums>\d+(?:\.\d+)*)
    (?P<branch>\.x)?
    (?:-(?P<stab>dev|unstable|alpha|beta|rc)\.?(?P<snum>\d+)?)?
    (?:\+(?P<build>\d+)-dev)?
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class DrupalVersion:
    """One parsed version string.

    ``numbers`` are the concrete parts (``(1, 0)`` for ``7.x-1.0``; ``(2,)`` for ``7.x-2.x-dev``),
    ``branch`` says a ``.x`` followed them. ``compat`` is the ``N`` of an ``N.x-`` prefix, None for
    plain versions (core versions and semver contrib).
    """

    raw: str
    compat: int | None
    numbers: tuple[int, ...]
    branch: bool = False
    stability: str = "release"
    stability_num: int = 0
    build: int = 0  # commits after the tag (``+N-dev``)

    @property
    def parts(self) -> int:
        """Number of dotted parts, the ``x`` of a branch included."""
        return len(self.numbers) + (1 if self.branch else 0)

    @property
    def is_dev(self) -> bool:
        """True for anything that is not a tagged release or pre-release: branches, -dev, +N-dev."""
        return self.branch or self.stability == "dev" or self.build > 0

    @property
    def core_major(self) -> int:
        """The core major this string names: the prefix, else the first number."""
        return self.compat if self.compat is not None else self.numbers[0]

    def key(self) -> tuple[int, ...]:
        """Order of the version within its line, ignoring the compat prefix."""
        pad = _BRANCH if self.branch else 0
        nums = self.numbers + (pad,) * (_MAX_PARTS - len(self.numbers))
        return (*nums, _STABILITY_RANK[self.stability], self.stability_num, self.build)

    def __str__(self) -> str:
        return self.raw


def _parse_body(body: str, compat: int | None, raw: str) -> DrupalVersion | None:
    m = _BODY.fullmatch(body)
    if m is None:
        return None
    numbers = tuple(int(n) for n in m["nums"].split("."))
    branch = m["branch"] is not None
    stab = (m["stab"] or "release").lower()
    if not 2 <= len(numbers) + branch <= _MAX_PARTS:
        return None
    if branch and (stab not in ("dev", "release") or m["snum"] or m["build"]):
        return None  # "2.x-beta1", "2.x-dev+3-dev": not something drupal.org produces
    return DrupalVersion(
        raw=raw,
        compat=compat,
        numbers=numbers,
        branch=branch,
        stability=stab,
        stability_num=int(m["snum"] or 0),
        build=int(m["build"] or 0),
    )


@functools.lru_cache(maxsize=8192)
def parse_version(s: str | None) -> DrupalVersion | None:
    """Parse a Drupal version string; None means unknown (never raises on bad input)."""
    if s is None:
        return None
    raw = s.strip()
    if not raw or raw.lower() in ("unknown", "version"):
        return None
    m = _PREFIXED.fullmatch(raw)
    if m is not None:
        parsed = _parse_body(m["rest"], int(m["compat"]), raw)
        if parsed is not None:
            return parsed
        # "7.x-dev" is a plain core branch, not a prefix: fall through.
    return _parse_body(raw, None, raw)


def _as_version(v: str | DrupalVersion | None) -> DrupalVersion | None:
    return v if isinstance(v, DrupalVersion) or v is None else parse_version(v)


def _sign(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return (a > b) - (a < b)


def compare_versions(a: str | DrupalVersion | None, b: str | DrupalVersion | None) -> int | None:
    """-1, 0 or 1 as ``a`` is older than, the same as, or newer than ``b``.

    None when either side is unknown or the two cannot be ordered (a 2-part plain version against a
    ``6.x-``/``7.x-`` release); callers then decide by schema alone.
    """
    va, vb = _as_version(a), _as_version(b)
    if va is None or vb is None:
        return None
    ca, cb = va.compat, vb.compat
    if ca is not None and cb is not None:
        ea, eb = min(ca, _MODERN_COMPAT), min(cb, _MODERN_COMPAT)
        if ea != eb:
            return -1 if ea < eb else 1
        return _sign(va.key(), vb.key())
    if ca is None and cb is None:
        return _sign(va.key(), vb.key())
    # One prefixed, one plain.
    prefixed, plain, flip = (va, vb, 1) if ca is not None else (vb, va, -1)
    assert prefixed.compat is not None
    if prefixed.compat >= _MODERN_COMPAT:
        return _sign(va.key(), vb.key())
    if plain.parts >= 3:
        return -1 * flip  # a legacy 6.x-/7.x- release is older than any semver-era version
    return None


def version_sort_key(v: str | DrupalVersion | None) -> Any:
    """A ``sorted(key=...)`` key: unknowns first, then oldest to newest.

    A total order only among versions that are pairwise comparable; a pair that is not (see
    ``compare_versions``) counts as equal, so the sort stays stable instead of raising.
    """

    def cmp(x: str | DrupalVersion | None, y: str | DrupalVersion | None) -> int:
        px, py = _as_version(x), _as_version(y)
        if px is None or py is None:
            return (px is not None) - (py is not None)
        return compare_versions(px, py) or 0

    return cmp_to_key(cmp)(v)


def core_major(version: str | None) -> int | None:
    """Drupal core major of a core version string (``10.2.3`` -> 10, ``7.98`` -> 7), None if unknown.

    Also answers for prefixed contrib strings (``7.x-1.0`` -> 7). For a semver contrib string it
    returns the contrib major, so call it on core versions (``Platform.core_version``) only.
    """
    parsed = parse_version(version)
    return None if parsed is None else parsed.core_major
