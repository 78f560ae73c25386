"""PHP ``serialize()`` / ``unserialize()`` and drush 8's output encoders, for the drush stand-in.

Drupal stores ``variable.value`` (D6/D7) and ``key_value.value`` / ``config.data`` (D8+) as PHP-serialized
byte strings; string lengths there count bytes, not characters. Values are read and written the way PHP
does so the site database looks exactly as if real drush had touched it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any


class PhpSerializeError(ValueError):
    pass


def serialize(value: Any) -> bytes:
    if value is None:
        return b"N;"
    if value is True or value is False:
        return b"b:1;" if value else b"b:0;"
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, float):
        return b"d:" + php_float(value).encode() + b";"
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        return b's:%d:"' % len(raw) + raw + b'";'
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        body = b"".join(serialize(_php_key(k)) + serialize(v) for k, v in value.items())
        return b"a:%d:{" % len(value) + body + b"}"
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _php_key(k: Any) -> int | str:
    # PHP casts decimal-integer string keys to ints ("7" -> 7), as arrays do.
    if isinstance(k, str) and re.fullmatch(r"-?(0|[1-9]\d*)", k):
        return int(k)
    return k if isinstance(k, int | str) else str(k)


def php_float(x: float) -> str:
    """Shortest round-trip form, as PHP >= 7.1 (serialize_precision = -1) prints it."""
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INF" if x > 0 else "-INF"
    r = repr(x)
    if r.endswith(".0") and "e" not in r:
        return r[:-2]
    return r.replace("e+", "E+").replace("e-", "E-")


def unserialize(data: bytes | str) -> Any:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    value, pos = _unser(raw, 0)
    if pos != len(raw):
        raise PhpSerializeError(f"trailing data at offset {pos}")
    return value


def _unser(b: bytes, pos: int) -> tuple[Any, int]:
    try:
        tag = b[pos : pos + 1]
        if tag == b"N":
            return None, _expect(b, pos + 1, b";")
        if tag in (b"b", b"i", b"d"):
            end = b.index(b";", pos)
            text = b[pos + 2 : end].decode()
            if tag == b"b":
                return text == "1", end + 1
            if tag == b"i":
                return int(text), end + 1
            return float(text.replace("NAN", "nan").replace("INF", "inf")), end + 1
        if tag == b"s":
            colon = b.index(b":", pos + 2)
            n = int(b[pos + 2 : colon])
            start = colon + 2  # skip :"
            raw = b[start : start + n]
            end = _expect(b, start + n, b'";')
            try:
                return raw.decode(), end
            except UnicodeDecodeError:
                return raw, end
        if tag in (b"a", b"O"):
            if tag == b"O":  # O:8:"stdClass":N:{...}: read as a dict, class name dropped
                colon = b.index(b":", pos + 2)
                pos = colon + 2 + int(b[pos + 2 : colon]) + 1  # now at ':' before the count
                count_at = pos + 1
            else:
                count_at = pos + 2
            brace = b.index(b":{", count_at)
            count = int(b[count_at:brace])
            pos = brace + 2
            out: dict[Any, Any] = {}
            for _ in range(count):
                key, pos = _unser(b, pos)
                val, pos = _unser(b, pos)
                out[key] = val
            pos = _expect(b, pos, b"}")
            if tag == b"a" and list(out) == list(range(len(out))):
                return list(out.values()), pos
            return out, pos
    except (ValueError, IndexError) as e:
        raise PhpSerializeError(f"malformed serialized data at offset {pos}: {e}") from e
    raise PhpSerializeError(f"unsupported serialized type {tag!r} at offset {pos}")


def _expect(b: bytes, pos: int, lit: bytes) -> int:
    if b[pos : pos + len(lit)] != lit:
        raise PhpSerializeError(f"expected {lit!r} at offset {pos}")
    return pos + len(lit)


_PHP_NUMERIC = re.compile(r"[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_PHP_INT = re.compile(r"[ \t\n\r\v\f]*[+-]?\d+")


def drush_value_format(value: str, fmt: str = "auto") -> Any:
    """drush 8 ``drush_value_format()``: with 'auto', a numeric string becomes int/float (``$value + 0``),
    'TRUE'/'FALSE' become booleans, anything else stays a string."""
    if fmt == "auto":
        if _PHP_NUMERIC.fullmatch(value):
            if _PHP_INT.fullmatch(value) and -(2**63) <= int(value) < 2**63:
                return int(value)
            return float(value)
        if value in ("TRUE", "FALSE"):
            return value == "TRUE"
        return value
    if fmt == "integer":
        m = re.match(r"\s*[+-]?\d+", value)  # PHP (int) cast: leading digits, else 0
        return int(m.group()) if m else 0
    if fmt in ("float", "double"):
        m = _PHP_NUMERIC.match(value)
        return float(m.group()) if m else 0.0
    if fmt in ("bool", "boolean"):
        if value in ("TRUE", "FALSE"):
            return value == "TRUE"
        return value not in ("", "0")
    if fmt == "json":
        return json.loads(value)
    return value


def php_json(value: Any) -> str:
    """drush 8 ``drush_json_encode()``: json_encode(JSON_PRETTY_PRINT) with <, >, & escaped."""
    if value == {}:
        value = []
    text = json.dumps(value, indent=4, ensure_ascii=True)
    return text.replace("/", "\\/").replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_YAML_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .\-/@]*")
_YAML_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "~", ""}


def yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return php_float(v)
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    s = str(v)
    if _YAML_PLAIN.fullmatch(s) and s.lower() not in _YAML_RESERVED and not s.endswith(" "):
        return s
    return "'" + s.replace("'", "''") + "'"


def yaml_dump(value: Any, indent: int = 0) -> str:
    """Block-style YAML as drush 8's Symfony dumper prints it (2-space indent, never inline)."""
    pad = "  " * indent
    if isinstance(value, list):
        value = dict(enumerate(value))
    if not isinstance(value, dict):
        return pad + yaml_scalar(value) + "\n"
    if not value:
        return pad + "{  }\n"
    out = []
    for k, v in value.items():
        key = yaml_scalar(k)
        if isinstance(v, dict | list) and v:
            out.append(f"{pad}{key}:\n" + yaml_dump(v, indent + 1))
        else:
            out.append(f"{pad}{key}: " + (yaml_scalar(v) if not isinstance(v, dict | list) else "{  }") + "\n")
    return "".join(out)
