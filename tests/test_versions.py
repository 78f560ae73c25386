"""Semantic Drupal version ordering: the zoo of strings a hostmaster holds."""

from __future__ import annotations

import random

import pytest

from qm_tui.engine.versions import (
    DrupalVersion,
    compare_versions,
    core_major,
    parse_version,
    version_sort_key,
)

# --- parsing ------------------------------------------------------------------------------------

PARSED = [
    # raw, compat, numbers, branch, stability, stability_num, build
    ("7.98", None, (7, 98), False, "release", 0, 0),
    ("7.0-beta12", None, (7, 0), False, "beta", 12, 0),
    ("7.99-dev", None, (7, 99), False, "dev", 0, 0),
    ("10.2.3", None, (10, 2, 3), False, "release", 0, 0),
    ("10.2.0-rc1", None, (10, 2, 0), False, "rc", 1, 0),
    ("9.5.x-dev", None, (9, 5), True, "dev", 0, 0),
    ("7.x-dev", None, (7,), True, "dev", 0, 0),
    ("7.x-3.29", 7, (3, 29), False, "release", 0, 0),
    ("7.x-1.0-beta2", 7, (1, 0), False, "beta", 2, 0),
    ("7.x-1.0-unstable3", 7, (1, 0), False, "unstable", 3, 0),
    ("7.x-2.x-dev", 7, (2,), True, "dev", 0, 0),
    ("7.x-1.0+5-dev", 7, (1, 0), False, "release", 0, 5),
    ("7.x-1.0-beta2+3-dev", 7, (1, 0), False, "beta", 2, 3),
    ("6.x-2.4", 6, (2, 4), False, "release", 0, 0),
    ("8.x-1.5", 8, (1, 5), False, "release", 0, 0),
    ("8.x-1.0-alpha", 8, (1, 0), False, "alpha", 0, 0),
    ("2.1.0", None, (2, 1, 0), False, "release", 0, 0),
    ("2.1.0-alpha3", None, (2, 1, 0), False, "alpha", 3, 0),
    ("1.0.0-alpha.3", None, (1, 0, 0), False, "alpha", 3, 0),
    ("2.1.x-dev", None, (2, 1), True, "dev", 0, 0),
    ("3.0.0-beta1", None, (3, 0, 0), False, "beta", 1, 0),
    ("3.x-dev", None, (3,), True, "dev", 0, 0),
    ("  8.x-1.5 ", 8, (1, 5), False, "release", 0, 0),
    ("7.x-1.0-RC2", 7, (1, 0), False, "rc", 2, 0),
]


@pytest.mark.parametrize("raw,compat,numbers,branch,stab,snum,build", PARSED)
def test_parse(raw, compat, numbers, branch, stab, snum, build):
    v = parse_version(raw)
    assert v is not None
    assert (v.compat, v.numbers, v.branch, v.stability, v.stability_num, v.build) == (
        compat,
        numbers,
        branch,
        stab,
        snum,
        build,
    )
    assert v.raw == raw.strip()
    assert str(v) == raw.strip()


UNKNOWN = [
    None,
    "",
    "   ",
    "Unknown",
    "unknown",
    "VERSION",
    "0",
    "1",
    "custom",
    "v1.2.0",
    "1.2.3.4.5",
    "7.x-foo",
    "7.x-",
    "1.0-gamma1",
    "2.x-beta1",
    "2.x-dev+3-dev",
    "1.0 patched",
    "1..0",
    "7.x-1.0-beta2-dev",
    "8.x-1.5\x00",
]


@pytest.mark.parametrize("raw", UNKNOWN)
def test_unknown_and_garbage_parse_to_none(raw):
    assert parse_version(raw) is None


def test_is_dev():
    assert parse_version("7.x-2.x-dev").is_dev
    assert parse_version("10.2.4-dev").is_dev
    assert parse_version("7.x-1.0+5-dev").is_dev
    assert not parse_version("7.x-1.0-beta2").is_dev
    assert not parse_version("10.2.3").is_dev


# --- core_major ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,major",
    [
        ("7.98", 7),
        ("6.38", 6),
        ("10.2.3", 10),
        ("11.0.0-rc1", 11),
        ("9.5.x-dev", 9),
        ("7.x-dev", 7),
        ("8.9.20", 8),
        ("7.x-3.29", 7),
        (None, None),
        ("Unknown", None),
        ("VERSION", None),
        ("garbage", None),
    ],
)
def test_core_major(raw, major):
    assert core_major(raw) == major


# --- pairwise ordering --------------------------------------------------------------------------

# (older, newer): compare_versions(older, newer) must be -1 and the reverse 1.
OLDER_NEWER = [
    # Aegir's version_code gets these wrong
    ("9.5.11", "10.1.2"),
    ("8.6.1", "8.6.15"),
    ("7.x-1.0", "7.x-1.x-dev"),
    ("7.x-1.0", "7.x-1.0+5-dev"),
    ("7.0-beta2", "7.0-beta12"),
    # core
    ("7.59", "7.98"),
    ("7.9", "7.10"),
    ("6.38", "7.0"),
    ("7.98", "8.0.0"),
    ("7.0-beta12", "7.0-rc1"),
    ("7.0-rc4", "7.0"),
    ("7.98", "7.99-dev"),
    ("7.99-dev", "7.99"),
    ("10.2.0-rc1", "10.2.0"),
    ("10.2.3", "10.2.4-dev"),
    ("9.5.11", "9.5.x-dev"),
    ("9.5.x-dev", "9.6.0-alpha1"),
    ("10.1.8", "10.2.0-alpha1"),
    ("10.3.1", "11.0.0"),
    # release-type ladder on one number
    ("7.x-1.0-dev", "7.x-1.0-unstable1"),
    ("7.x-1.0-unstable9", "7.x-1.0-alpha1"),
    ("7.x-1.0-alpha9", "7.x-1.0-beta1"),
    ("7.x-1.0-beta2", "7.x-1.0-beta10"),
    ("7.x-1.0-beta10", "7.x-1.0-rc1"),
    ("7.x-1.0-rc1", "7.x-1.0"),
    ("7.x-1.0-alpha", "7.x-1.0-alpha1"),
    # contrib numbers
    ("7.x-1.9", "7.x-1.10"),
    ("7.x-3.29", "7.x-3.30"),
    ("7.x-1.10", "7.x-2.0-alpha1"),
    # git builds
    ("7.x-1.0+4-dev", "7.x-1.0+5-dev"),
    ("7.x-1.0+5-dev", "7.x-1.1"),
    ("7.x-1.0+5-dev", "7.x-1.1-alpha1"),
    ("7.x-1.0+5-dev", "7.x-1.1-dev"),
    ("7.x-1.0-beta2", "7.x-1.0-beta2+3-dev"),
    ("7.x-1.0-beta2+3-dev", "7.x-1.0-beta3"),
    # branches: head of their line, below the next line
    ("7.x-2.7", "7.x-2.x-dev"),
    ("7.x-2.7+30-dev", "7.x-2.x-dev"),
    ("7.x-2.x-dev", "7.x-3.0-alpha1"),
    ("7.x-1.x-dev", "7.x-2.0"),
    ("2.1.5", "2.1.x-dev"),
    ("2.1.x-dev", "2.2.0-alpha1"),
    ("2.1.x-dev", "2.x-dev"),
    ("2.x-dev", "3.0.0-alpha1"),
    # compat prefix is most significant
    ("6.x-3.9", "7.x-1.0"),
    ("7.x-9.9", "8.x-1.0"),
    ("6.x-2.x-dev", "7.x-1.0-alpha1"),
    # D8+ prefix continues as semver
    ("8.x-1.5", "1.6.0"),
    ("1.6.0", "8.x-2.0"),
    ("8.x-1.5", "1.5.1"),
    ("1.5.0-rc1", "8.x-1.5"),
    ("8.x-3.x-dev", "4.0.0"),
    ("8.x-3.9", "3.x-dev"),
    ("9.x-1.0", "8.x-1.1"),  # one bucket from 8 on: numbers decide
    # legacy prefix against semver-era
    ("7.x-3.29", "2.1.0"),
    ("7.x-3.29", "1.0.0-alpha1"),
    ("6.x-1.0", "2.1.x-dev"),
    # semver
    ("2.1.0-alpha3", "2.1.0-beta1"),
    ("2.1.0", "2.1.1"),
    ("2.9.0", "2.10.0"),
    ("3.0.0-beta1", "3.0.0"),
]


@pytest.mark.parametrize("older,newer", OLDER_NEWER)
def test_older_newer_antisymmetric(older, newer):
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1


SAME = [
    ("7.98", "7.98"),
    ("7.x-1.0", "7.x-1.0"),
    ("8.x-1.5", "1.5.0"),
    ("8.x-1.5", "1.5"),
    ("1.5", "1.5.0"),
    ("7.x-2.x-dev", "7.x-2.x-dev"),
    ("10.2.0-rc1", "10.2.0-RC1"),
    ("8.x-1.0-beta2", "1.0.0-beta2"),
    (" 7.98", "7.98 "),
]


@pytest.mark.parametrize("a,b", SAME)
def test_same(a, b):
    assert compare_versions(a, b) == 0
    assert compare_versions(b, a) == 0


NOT_COMPARABLE = [
    ("Unknown", "7.98"),
    ("7.x-1.0", None),
    ("", ""),
    ("Unknown", "Unknown"),
    ("VERSION", "10.2.3"),
    ("garbage", "7.x-1.0"),
    # a 2-part plain version against a legacy prefix: core vs contrib, cannot be ordered
    ("7.98", "7.x-1.0"),
    ("3.x-dev", "7.x-3.29"),
    ("7.x-dev", "6.x-1.0"),
]


@pytest.mark.parametrize("a,b", NOT_COMPARABLE)
def test_not_comparable_is_none_both_ways(a, b):
    assert compare_versions(a, b) is None
    assert compare_versions(b, a) is None


def test_accepts_parsed_objects():
    a, b = parse_version("9.5.11"), parse_version("10.1.2")
    assert isinstance(a, DrupalVersion)
    assert compare_versions(a, b) == -1
    assert compare_versions(a, "10.1.2") == -1


# --- whole orders -------------------------------------------------------------------------------

CHAINS = {
    "core": [
        "6.38",
        "7.0-dev",
        "7.0-unstable1",
        "7.0-alpha7",
        "7.0-beta2",
        "7.0-beta12",
        "7.0-rc1",
        "7.0",
        "7.9",
        "7.59",
        "7.98",
        "7.99-dev",
        "7.99",
        "8.0.0",
        "8.6.1",
        "8.6.15",
        "8.9.20",
        "9.5.11",
        "9.5.x-dev",
        "10.1.2",
        "10.2.0-rc1",
        "10.2.0",
        "10.2.3",
        "10.2.4-dev",
        "10.2.4",
        "11.0.0-alpha1",
        "11.0.0",
    ],
    "legacy to semver": [
        "6.x-1.0",
        "7.x-1.0-beta2",
        "7.x-3.29",
        "7.x-3.x-dev",
        "8.x-1.0-alpha1",
        "1.0.0",
        "8.x-1.5",
        "2.1.0-alpha3",
        "2.1.x-dev",
        "10.0.0",
    ],
    "legacy contrib": [
        "6.x-1.0",
        "6.x-2.x-dev",
        "7.x-1.0-dev",
        "7.x-1.0-unstable2",
        "7.x-1.0-alpha1",
        "7.x-1.0-beta2",
        "7.x-1.0-beta2+3-dev",
        "7.x-1.0-beta10",
        "7.x-1.0-rc1",
        "7.x-1.0",
        "7.x-1.0+1-dev",
        "7.x-1.0+5-dev",
        "7.x-1.1",
        "7.x-1.10",
        "7.x-1.x-dev",
        "7.x-2.0-alpha1",
        "7.x-2.0",
        "7.x-3.29",
        "7.x-3.x-dev",
        "8.x-1.0-alpha1",
        "8.x-1.0",
    ],
    # 7.x-3.29 is older than all of these but "2.x-dev" (2 parts) against it is not comparable
    "modern contrib": [
        "8.x-1.0-beta1",
        "8.x-1.0",
        "8.x-1.5",
        "1.5.1",
        "8.x-1.6-rc1",
        "1.6.0",
        "8.x-1.6+2-dev",
        "8.x-1.x-dev",
        "2.0.0-alpha1",
        "2.0.0",
        "2.1.0-alpha3",
        "2.1.0",
        "2.1.0+4-dev",
        "2.1.1",
        "2.1.x-dev",
        "2.2.0",
        "2.x-dev",
        "3.0.0-beta1",
        "3.0.0",
    ],
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_is_strictly_increasing_pairwise(name):
    chain = CHAINS[name]
    for i, a in enumerate(chain):
        for b in chain[i + 1 :]:
            assert compare_versions(a, b) == -1, (a, b)
            assert compare_versions(b, a) == 1, (b, a)
        assert compare_versions(a, a) == 0


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("seed", range(20))
def test_sorting_a_shuffled_chain_restores_it(name, seed):
    chain = CHAINS[name]
    shuffled = chain[:]
    random.Random(seed).shuffle(shuffled)
    assert sorted(shuffled, key=version_sort_key) == chain


def test_sort_key_puts_unknowns_first():
    got = sorted(["7.98", "Unknown", "7.59", None, "7.x"], key=version_sort_key)
    assert got[:2] in (["Unknown", None], [None, "Unknown"])
    assert got[2:] == ["7.59", "7.98", "7.x"]
