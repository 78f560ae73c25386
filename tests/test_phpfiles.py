"""qm_tui.engine.phpfiles: the drushrc.php / alias-file reader and writer (PHP var_export subset)."""

from __future__ import annotations

import pytest

from qm_tui.engine import phpfiles
from qm_tui.engine.phpfiles import PhpParseError, parse_alias, parse_drushrc, php_literal, render_alias, render_drushrc

SITE_ALIAS = {
    "context_type": "site",
    "platform": "@platform_d7a",
    "server": "@server_master",
    "db_server": "@server_dblabtest",
    "uri": "example.com",
    "root": "/var/aegir/platforms/d7a",
    "site_path": "/var/aegir/platforms/d7a/sites/example.com",
    "site_enabled": True,
    "language": "en",
    "client_name": "admin",
    "profile": "standard",
    "aliases": ["www.example.com", "old.example.com"],
    "redirection": False,
    "cron_key": None,
}


@pytest.mark.parametrize(
    "value",
    [
        SITE_ALIAS,
        {"nested": {"a": {"b": [1, 2, {"c": None}]}}, "neg": -3, "float": 1.5, "negf": -0.25},
        {"quote": "it's", "dq": 'say "hi"', "bs": "C:\\path\\", "both": "\\'", "nl": "line1\nline2"},
        {"comment_like": "/* not a comment */ // nor this # nor this", "close": "?> <?php"},
        {"unicode": "ü € 日本", "empty": "", "zero": 0, "space key": "v"},
        {"sparse": {5: "a", 7: "b"}, "list": ["x", "y"]},
    ],
)
def test_alias_round_trip(value: dict) -> None:
    text = render_alias("example.com", value)
    assert text.startswith("<?php \n$aliases['example.com'] = array (")
    assert parse_alias(text) == {"example.com": value}


def test_drushrc_round_trip() -> None:
    options = {
        "db_type": "mysql",
        "db_host": "127.0.0.1",
        "db_port": "3306",
        "db_passwd": "p'a\\ss\"w$rd",
        "db_name": "site_1",
        "installed": True,
        "packages": {"modules": {"views": {"status": 1, "schema_version": 7302}}},
    }
    text = render_drushrc(options)
    assert "$options['db_passwd'] = 'p\\'a\\\\ss\"w$rd';" in text
    assert parse_drushrc(text) == options


def test_var_export_layout() -> None:
    assert php_literal({"a": 1, "b": "x"}) == "array (\n  'a' => 1,\n  'b' => 'x',\n)"
    assert php_literal(None) == "NULL" and php_literal(False) == "false" and php_literal(-2) == "-2"


# As provision writes it: PHP var_export() puts a nested array on its own line after "=>".
REAL_AEGIR_ALIAS = """<?php
$aliases['example.com'] = array (
  'context_type' => 'site',
  'platform' => '@platform_d7a',
  'server' => '@server_master',
  'db_server' => '@server_localhost',
  'uri' => 'example.com',
  'root' => '/var/aegir/platforms/d7a',
  'site_path' => '/var/aegir/platforms/d7a/sites/example.com',
  'site_enabled' => true,
  'language' => 'en',
  'client_name' => 'admin',
  'aliases' =>
  array (
  ),
  'redirection' => false,
  'cron_key' => '',
  'drush_aliases' =>
  array (
    0 => 'ex',
  ),
  'profile' => 'standard',
  'install_method' => 'profile',
);
""".replace("=>\n", "=> \n").replace("<?php\n", "<?php \n")  # var_export's trailing spaces


def test_parses_real_var_export_output() -> None:
    rec = parse_alias(REAL_AEGIR_ALIAS)["example.com"]
    assert rec["aliases"] == [] and rec["drush_aliases"] == ["ex"] and rec["site_enabled"] is True
    assert rec["install_method"] == "profile" and len(rec) == 16


def test_php_array_semantics() -> None:
    # An empty array or one keyed 0..n-1 has no dict/list distinction in PHP: both read back as lists.
    assert parse_alias(render_alias("a", {"e": {}}))["a"] == {"e": []}
    assert parse_alias(render_alias("a", {"m": {0: "x", 1: "y"}}))["a"] == {"m": ["x", "y"]}
    assert parse_drushrc("<?php $options['m'] = array(3 => 'a', 'b');") == {"m": {3: "a", 4: "b"}}


def test_comments_and_syntax_variants() -> None:
    text = """<?php
# a comment with 'quotes' and $options['x'] = 1;
// another one
/* block
   comment */ $options /* inline */ ['a'] = 'x /* y */ // z # w';
$options["b"] = [1, 2, ];   # short arrays, trailing comma
$options['c'] = TRUE;
$options['d'] = NuLL;
$options['a'] = 'last one wins';
"""
    assert parse_drushrc(text) == {"a": "last one wins", "b": [1, 2], "c": True, "d": None}


def test_string_escapes_follow_php() -> None:
    # Single quotes: only \\ and \' are escapes; double quotes: \n \t \\ \" \$ (no interpolation).
    assert parse_drushrc(r"<?php $options['s'] = 'a\nb\\c\'d';") == {"s": "a\\nb\\c'd"}
    assert parse_drushrc(r'<?php $options["s"] = "a\tb\\c\"d\$e";') == {"s": 'a\tb\\c"d$e'}


def test_several_aliases_in_one_file() -> None:
    text = "<?php $aliases['one'] = array('uri' => 'one.test'); $aliases['two'] = array();"
    assert parse_alias(text) == {"one": {"uri": "one.test"}, "two": []}


@pytest.mark.parametrize(
    "text, message",
    [
        ("<?php $options['a'] = foo();", "unsupported PHP value 'foo'"),
        ('<?php $options["a"] = "$interpolated";', "unexpected text"),
        ("<?php echo 'x';", "expected a $variable"),
        ("<?php $options['a'] = 1", "unexpected end of file"),
        ("<?php $other['a'] = 1;", "unexpected variable $other"),
        ("<?php $options['a'] = array(1,;", "unsupported PHP value ';'"),
        ("<?php $options['a'] = array(1 2);", "expected ','"),
        ("<?php $options['a'] = PHP_EOL;", "unsupported PHP value 'PHP_EOL'"),
        ("<?php $options['a'] = 'x' . 'y';", "unexpected text"),
        ("<?php $options['a'] = 'unterminated;", "unexpected text"),
        # provision's extra statements are accepted in their exact shape only
        ("<?php $_SERVER['db_name'] = 'x';", "expected '$options'"),
        ("<?php @include('/x/local.drushrc.php');", "expected 'include_once'"),
        ("<?php @include_once($path);", "unsupported PHP value '$path'"),
        ("<?php $aliases['a'] = 1;", "unexpected variable $aliases"),
    ],
)
def test_unsupported_php_is_an_error(text: str, message: str) -> None:
    with pytest.raises(PhpParseError, match=message.replace("$", r"\$").replace("(", r"\(")):
        parse_drushrc(text)


def test_render_rejects_objects() -> None:
    with pytest.raises(TypeError):
        php_literal(object())


def test_float_exponent_round_trip() -> None:
    assert phpfiles.parse_drushrc(render_drushrc({"f": 1e20})) == {"f": 1e20}
    assert phpfiles.parse_drushrc("<?php $options['f'] = 1.0E+20;") == {"f": 1e20}


# What provision 7.x-3.x writes (provision_drushrc_site.tpl.php), secrets replaced.
PROVISION_DRUSHRC = """<?php
/**
 * @file
 * Site Drush configuration file, written by provision.
 */
$options['db_type'] = 'mysql';
$options['db_host'] = 'db.example.org';
$options['db_port'] = '3306';
$options['db_passwd'] = 'secret';
$options['db_name'] = 'shopexampleorg';
$options['db_user'] = 'shopexampleorg';
$options['installed'] = true;
$options['packages'] = array (
  'platforms' => array ('drupal' => array ('version' => '7.98')),
);

# Aegir additions
$_SERVER['db_type'] = $options['db_type'];
$_SERVER['db_port'] = $options['db_port'];
$_SERVER['db_host'] = $options['db_host'];
$_SERVER['db_user'] = $options['db_user'];
$_SERVER['db_passwd'] = $options['db_passwd'];
$_SERVER['db_name'] = $options['db_name'];

# Local non-aegir-generated additions.
@include_once('/var/aegir/platforms/drupal-7.98/sites/shop.example.org/local.drushrc.php');
"""


def test_provisions_own_drushrc_parses() -> None:
    rc = parse_drushrc(PROVISION_DRUSHRC)
    assert rc["db_name"] == "shopexampleorg" and rc["db_passwd"] == "secret" and rc["installed"] is True
    assert rc["packages"] == {"platforms": {"drupal": {"version": "7.98"}}}


def test_rendered_drushrc_has_provisions_shape() -> None:
    text = render_drushrc({"db_name": "x", "db_passwd": "p", "site_path": "/var/aegir/p/sites/s"})
    assert "$_SERVER['db_name'] = $options['db_name'];" in text
    assert "@include_once('/var/aegir/p/sites/s/local.drushrc.php');" in text
    assert parse_drushrc(text) == {"db_name": "x", "db_passwd": "p", "site_path": "/var/aegir/p/sites/s"}
