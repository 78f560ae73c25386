"""Read and write the PHP files Aegir keeps its contexts in.

Aegir/provision stores site options in ``sites/<uri>/drushrc.php`` as ``$options['key'] = value;``
lines and drush aliases in ``~/.drush/<name>.alias.drushrc.php`` as ``$aliases['name'] = array (...);``
(PHP ``var_export`` output). We never execute PHP: this is a small parser for exactly the literal
subset those generators write (strings, ints, floats, booleans, NULL and nested ``array (...)``).
Anything else is a ``PhpParseError`` naming the offset, never a guess.
"""

from __future__ import annotations

import re
from typing import Any

PhpValue = Any


class PhpParseError(ValueError):
    pass


_TOKEN = re.compile(
    r"""(?>\s+|\#[^\n]*+|//[^\n]*+|/\*.*?\*/)*+(?:
      (?P<str1>'(?:[^'\\]|\\.)*')
    | (?P<str2>"(?:[^"\\$]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<arrow>=>)
    | (?P<punct>[()\[\],;=@])
    | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE | re.DOTALL,
)


_TOKEN_SKIP = re.compile(r"(?:\s+|#[^\n]*|//[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _unquote_single(s: str) -> str:
    return re.sub(r"\\([\\'])", r"\1", s[1:-1])


_DQ_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$", "0": "\0"}


def _unquote_double(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: _DQ_ESCAPES.get(m.group(1), "\\" + m.group(1)), s[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        m = _TOKEN.match(self.text, self.pos)
        if not m or m.end() == self.pos:
            rest = self.text[self.pos:]
            if _TOKEN_SKIP.fullmatch(rest):
                return None
            raise PhpParseError(f"unexpected text at offset {self.pos}: {rest[:30]!r}")
        kind = m.lastgroup or ""
        return kind, m.group(kind)

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise PhpParseError("unexpected end of file")
        m = _TOKEN.match(self.text, self.pos)
        assert m
        self.pos = m.end()
        return tok

    def expect(self, value: str) -> None:
        kind, tok = self.next()
        if tok != value:
            raise PhpParseError(f"expected {value!r} at offset {self.pos}, got {tok!r}")

    def value(self) -> PhpValue:
        kind, tok = self.next()
        if kind == "str1":
            return _unquote_single(tok)
        if kind == "str2":
            return _unquote_double(tok)
        if kind == "num":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if kind == "word":
            low = tok.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            if low == "array":
                self.expect("(")
                return self.array_body(")")
        if tok == "[":
            return self.array_body("]")
        raise PhpParseError(f"unsupported PHP value {tok!r} at offset {self.pos}")

    def array_body(self, close: str) -> dict[Any, Any] | list[Any]:
        items: dict[Any, Any] = {}
        auto = 0
        while True:
            tok = self.peek()
            if tok is not None and tok[1] == close:
                self.next()
                break
            first = self.value()
            tok = self.peek()
            if tok is not None and tok[0] == "arrow":
                self.next()
                items[first] = self.value()
                if isinstance(first, int):
                    auto = max(auto, first + 1)
            else:
                items[auto] = first
                auto += 1
            tok = self.next()
            if tok[1] == close:
                break
            if tok[1] != ",":
                raise PhpParseError(f"expected ',' or {close!r} at offset {self.pos}, got {tok[1]!r}")
        if items and list(items) == list(range(len(items))):
            return list(items.values())
        return items if items else []


def parse_assignments(text: str, var: str, provision_site: bool = False) -> dict[str, PhpValue]:
    """Collect ``$var['key'] = <literal>;`` statements (last one wins, as in PHP).

    ``provision_site``: also the two statement forms provision's site template adds after the options
    (``$_SERVER['db_x'] = $options['db_x'];`` and ``@include_once('<site>/local.drushrc.php');``): code,
    not data, so they are checked for their exact shape and skipped."""
    body = text.strip()
    if body.startswith("<?php"):
        body = body[5:]
    p = _Parser(body)
    out: dict[str, PhpValue] = {}
    while p.peek() is not None:
        kind, tok = p.next()
        if provision_site and tok in ("@", "include_once"):
            if tok == "@":
                p.expect("include_once")
            p.expect("(")
            if not isinstance(p.value(), str):
                raise PhpParseError(f"include_once of a non-string at offset {p.pos}")
            p.expect(")")
            p.expect(";")
            continue
        if provision_site and tok == "$_SERVER":
            p.expect("[")
            p.value()
            p.expect("]")
            p.expect("=")
            p.expect(f"${var}")
            p.expect("[")
            p.value()
            p.expect("]")
            p.expect(";")
            continue
        if kind != "var":
            raise PhpParseError(f"expected a $variable at offset {p.pos}, got {tok!r}")
        if tok != f"${var}":
            raise PhpParseError(f"unexpected variable {tok} (expected ${var})")
        p.expect("[")
        key = p.value()
        p.expect("]")
        p.expect("=")
        out[str(key)] = p.value()
        p.expect(";")
    return out


def parse_drushrc(text: str) -> dict[str, PhpValue]:
    """A site's ``drushrc.php`` as provision writes it: ``$options['db_name'] = 'x';`` ..., then
    ``$_SERVER['db_*'] = $options['db_*'];`` and an ``@include_once`` of ``local.drushrc.php``. What that
    optional local file would override is not read (drush reads it; Aegir never writes it)."""
    return parse_assignments(text, "options", provision_site=True)


def parse_alias(text: str) -> dict[str, dict[str, PhpValue]]:
    """An alias file: ``$aliases['name'] = array (...);`` (one or more)."""
    return parse_assignments(text, "aliases")


def php_literal(value: PhpValue, indent: int = 0) -> str:
    """Render like PHP's ``var_export``."""
    pad = "  " * indent
    if value is None:
        return "NULL"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        lines = ["array ("]
        for k, v in value.items():
            lines.append(f"{pad}  {php_literal(k)} => {php_literal(v, indent + 1)},")
        lines.append(f"{pad})")
        return "\n".join(lines)
    raise TypeError(f"cannot render {type(value).__name__} as PHP")


SERVER_DB_KEYS = ("db_type", "db_port", "db_host", "db_user", "db_passwd", "db_name")


def render_drushrc(options: dict[str, PhpValue]) -> str:
    """Provision's site template (provision_drushrc_site.tpl.php): the options, the ``$_SERVER`` copies
    of the DB keys, and the include of the site's ``local.drushrc.php``."""
    lines = ["<?php ", "# Aegir site context (written by provision)."]
    lines += [f"$options[{php_literal(k)}] = {php_literal(v)};" for k, v in options.items()]
    lines += ["", "# Aegir additions"]
    lines += [f"$_SERVER[{php_literal(k)}] = $options[{php_literal(k)}];" for k in SERVER_DB_KEYS if k in options]
    if options.get("site_path"):
        lines += ["", "# Local non-aegir-generated additions.",
                  f"@include_once({php_literal(str(options['site_path']) + '/local.drushrc.php')});"]
    return "\n".join(lines) + "\n"


def render_alias(name: str, values: dict[str, PhpValue]) -> str:
    return f"<?php \n$aliases[{php_literal(name)}] = {php_literal(values)};\n"
