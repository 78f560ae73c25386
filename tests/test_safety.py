"""Hostile names and paths from the hostmaster are refused before any use."""

from __future__ import annotations

import subprocess

import pytest

from qm_tui.engine.safety import UnsafeValue, check_context, check_host, check_path, check_uri, sh_join


@pytest.mark.parametrize("uri", ["example.com", "a.b-c.example.org", "x1.lab.test", "localhost"])
def test_good_uris(uri: str) -> None:
    assert check_uri(uri) == uri


@pytest.mark.parametrize("uri", [
    "", "Example.com", "a;rm -rf /", "a b.com", "../etc", "a/b", "-x.com", "x-.com", "a..b", ".a",
    "a.com\n", "$(id).com", "`id`.com", "a" * 64 + ".com", "ex\u00e4mple.com", "a'b.com",
])
def test_hostile_uris(uri: str) -> None:
    with pytest.raises(UnsafeValue):
        check_uri(uri)


def test_hosts_and_contexts() -> None:
    assert check_host("Web1.lab.test") == "Web1.lab.test"
    with pytest.raises(UnsafeValue):
        check_host("web1;id")
    assert check_context("platform_d7a") == "platform_d7a"
    for bad in ("platform d7", "@x", "a'b", ""):
        with pytest.raises(UnsafeValue):
            check_context(bad)


@pytest.mark.parametrize("path", ["/var/aegir/platforms/d7", "/var/aegir/platforms/d7/sites/x.com"])
def test_good_paths(path: str) -> None:
    assert check_path(path, "/var/aegir") == path


@pytest.mark.parametrize("path", [
    "/var/aegir", "/var/aegir/", "/var/aegir/../etc", "/var/aegir/a/../../etc", "/var/aegirx/p",
    "relative/p", "/etc/passwd", "/var/aegir/p\n", "/var/aegir//p", "/var/aegir/./p", "",
])
def test_bad_paths(path: str) -> None:
    with pytest.raises(UnsafeValue):
        check_path(path, "/var/aegir")


def test_sh_join_survives_a_shell() -> None:
    words = ["echo", "a b", "$(id)", "`id`", "it's", ";", "\\", "--", "*"]
    out = subprocess.run(["sh", "-c", sh_join(words)], capture_output=True, text=True, check=True).stdout
    assert out == "a b $(id) `id` it's ; \\ -- *\n"
