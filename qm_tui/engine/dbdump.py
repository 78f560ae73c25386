"""Dump and restore of a site's database on the hostmaster, credentials kept out of argv.

The credentials come from the site's ``drushrc.php`` on M (as Aegir's own backups do). They travel
on the command's stdin: the script reads them into a shell variable and hands them to the client as
``--defaults-extra-file=<(printf ...)`` (a pipe; ``printf`` is a bash builtin, so no argv carries
them), never in argv, the environment, a log or the journal.
"""

from __future__ import annotations

import re
import shlex

from ..errors import QmError
from .operations.context import SiteMoveContext

q = shlex.quote
DUMP_TRAILER = "-- Dump completed"
MIN_DUMP_BYTES = 1024
RC_BAD_DUMP = 9
_DB_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

READ_CNF = 'cnf=$(cat); cnfp() { printf "%s\\n" "$cnf"; }; '
OPTS = '--defaults-extra-file=<(cnfp)'

# DEFINER clauses are stripped at dump time, as provision does (mysql.php generate_dump()): re-creating an
# object for another definer needs SUPER or SET USER, which a site user lacks, and stripped on disk the
# verified file restores as is, by the restore step and by the manual `mariadb <db> < dump` of undo_commands.
# Each rule matches only a whole header line of a view, trigger, event or routine as mariadb-dump/mysqldump
# write it, and cuts only its first DEFINER clause. No table row can start a line (the dump escapes newlines
# in values: row lines start with "INSERT INTO" or "("); only a multi-line string literal in a routine or
# trigger body could. A name is back-quoted with its backticks doubled; a role has no @host.
_NAME = "`([^`]|``)*`"
_DEFINER = f"DEFINER={_NAME}(@{_NAME})?"
_RULES = (
    rf"\#^/\*!50013 {_DEFINER} SQL SECURITY [A-Z]+ \*/$# s#{_DEFINER} ##",  # view, definer on its own line
    # view written on one line (mariadb-dump does so when the definer has no @host, a role)
    rf"\#^/\*!50001 CREATE ALGORITHM=[A-Z]+ {_DEFINER} SQL SECURITY [A-Z]+ VIEW # s#{_DEFINER} ##",
    # trigger: /*!50003 CREATE*/ /*!50017 DEFINER=`u`@`h`*/ /*!50003 TRIGGER ...; event: 50106/50117/50106
    rf"\#^/\*![0-9]{{5}} CREATE\*/ /\*![0-9]{{5}} {_DEFINER}\*/ /\*![0-9]{{5}} [A-Z]# "
    rf"s#/\*![0-9]{{5}} {_DEFINER}\*/ ##",
    rf"\#^CREATE {_DEFINER} [A-Z]# s#{_DEFINER} ##",  # procedure, function (with --routines)
)
# LC_ALL=C: bytes, not characters, so a value that is not valid in the locale's charset passes untouched.
STRIP_DEFINERS = "LC_ALL=C sed -E " + q("; ".join(_RULES))


class CredentialError(QmError):
    pass


def _quoted(text: str) -> str:
    """A value as the option-file parser reads it back verbatim."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def option_file(creds: dict[str, object], socket: str | None = None) -> tuple[str, str]:
    """``[client]`` option-file text and the database name from drushrc.php options.

    ``socket`` (``migrate.db_socket``) applies when the site's db_host is 'localhost', which the
    client, like Aegir, takes to mean its unix socket; a named host is reached over TCP as before.
    This file is read after the system's my.cnf and $MYSQL_HOME/my.cnf, so its socket wins over theirs.
    """
    def val(key: str) -> str:
        v = creds.get(key)
        if v is None or v == "":
            raise CredentialError(f"drushrc.php has no {key}")
        text = str(v)
        if "\n" in text or "\r" in text:
            raise CredentialError(f"drushrc.php {key} contains a line break")
        return text

    db = val("db_name")
    if not _DB_NAME.fullmatch(db):
        raise CredentialError(f"database name {db!r} in drushrc.php is not a plain name")
    lines = ["[client]", f"user={val('db_user')}", f"password={_quoted(val('db_passwd'))}"]
    host = str(creds.get("db_host") or "localhost")
    lines.append(f"host={host}")
    if creds.get("db_port"):
        lines.append(f"port={int(str(creds['db_port']))}")
    if socket and host == "localhost":
        lines.append(f"socket={_quoted(socket)}")
    return "\n".join(lines) + "\n", db


def _tool(names: str) -> str:
    return "$(command -v " + " || command -v ".join(names.split()) + ")"


def dump_command(ctx: SiteMoveContext) -> str:
    f = ctx.dump_path
    d = f.rsplit("/", 1)[0]
    return (
        "set -o pipefail; umask 077; " + READ_CNF
        + f"d={q(d)}; f={q(f)}; tmp=\"$f.partial\"; mkdir -p -m 0700 -- \"$d\"; rm -f -- \"$tmp\"; "
        + f"dump={_tool('mariadb-dump mysqldump')}; "
        + f"\"$dump\" {OPTS} --single-transaction --quick --no-autocommit --hex-blob "
        # pipefail: a failing mariadb-dump fails the pipeline although sed exits 0
        "--default-character-set=utf8mb4 --no-tablespaces -- {db} | " + STRIP_DEFINERS + " > \"$tmp\"; rc=$?; "
        "if [ $rc -ne 0 ]; then rm -f -- \"$tmp\"; echo \"qm: dump failed (exit $rc)\" >&2; exit $rc; fi; "
        + f"if ! tail -c 200 -- \"$tmp\" | grep -q -- {q(DUMP_TRAILER)}; then rm -f -- \"$tmp\"; "
        f"echo \"qm: dump is truncated (no '{DUMP_TRAILER}' trailer)\" >&2; exit {RC_BAD_DUMP}; fi; "
        + "size=$(stat -c %s -- \"$tmp\"); "
        + f"if [ \"$size\" -lt {MIN_DUMP_BYTES} ]; then rm -f -- \"$tmp\"; "
        f"echo \"qm: dump is only $size bytes\" >&2; exit {RC_BAD_DUMP}; fi; "
        + "mv -f -- \"$tmp\" \"$f\" && sync -- \"$d\" 2>/dev/null; echo \"@@DUMP $f $size\""
    )


def verify_command(ctx: SiteMoveContext) -> str:
    f = q(ctx.dump_path)
    return (f"[ -f {f} ] && tail -c 200 -- {f} | grep -q -- {q(DUMP_TRAILER)} "
            f"&& [ \"$(stat -c %s -- {f})\" -ge {MIN_DUMP_BYTES} ]")


def restore_command(ctx: SiteMoveContext) -> str:
    """Drop every table of the site's DB, then import the verified dump (undoes updatedb)."""
    f = ctx.dump_path
    return (
        "set -o pipefail; " + READ_CNF + f"f={q(f)}; cli={_tool('mariadb mysql')}; "
        + f"if ! tail -c 200 -- \"$f\" | grep -q -- {q(DUMP_TRAILER)}; then "
        f"echo \"qm: $f is missing or truncated; refusing to restore\" >&2; exit {RC_BAD_DUMP}; fi; "
        + f"\"$cli\" {OPTS} -N -B -e \"SELECT CONCAT('DROP ', IF(table_type = 'VIEW', 'VIEW', 'TABLE'), "
        "' IF EXISTS \\`', REPLACE(table_name, '\\`', '\\`\\`'), '\\`;') FROM information_schema.tables "
        "WHERE table_schema = DATABASE()\" -- {db} > \"$f.drop\" "
        + f"&& (echo 'SET FOREIGN_KEY_CHECKS=0;'; cat -- \"$f.drop\") | \"$cli\" {OPTS} -- {{db}}; rc=$?; "
        "rm -f -- \"$f.drop\"; "
        # a failed drop or import must fail the step (and so stop the rollback), not end in "restored"
        "if [ $rc -ne 0 ]; then echo \"qm: dropping the tables failed (exit $rc)\" >&2; exit $rc; fi; "
        + f"\"$cli\" {OPTS} -- {{db}} < \"$f\" "
        "|| { rc=$?; echo \"qm: import of $f failed (exit $rc)\" >&2; exit $rc; }; "
        "echo \"qm: database restored from $f\""
    )


def size_command() -> str:
    """Bytes used by the site's database (for the free-space preflight)."""
    return (READ_CNF + f"cli={_tool('mariadb mysql')}; \"$cli\" {OPTS} -N -B -e "
            "\"SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
            "WHERE table_schema = DATABASE()\" -- {db}")
