"""Paths in a site's database that name its directory, rewritten when the directory is renamed.

As provision's deploy does on a rename (``platform/drupal/deploy.inc`` for D6, ``deploy_7.inc``):
``sites/<old>/`` becomes ``sites/<new>/`` in the columns that store paths or HTML (D7: ``system`` and
the registry's file names, custom blocks, every text field's value and summary; D6: ``files``,
``users.picture``, ``boxes``, node revisions), and in the ``variable`` rows that hold one such path
as a serialized string (``file_directory_path``, ``file_public_path``...), whose length prefix is
recomputed. D8+ stores no such path (stream wrappers; settings.php names the directories). The
statements are generated from ``information_schema`` in the site's own database, so tables a site
does not have are simply absent. The trailing ``/`` keeps ``sites/a.org/`` from matching
``sites/a.org.uk/``: running it twice changes nothing more.
"""

from __future__ import annotations

from .dbdump import OPTS, READ_CNF, _tool
from .fileops import q
from .safety import check_uri

# (table, column) pairs; a table name ending in "_" is a prefix (field_data_*, field_revision_*).
COLUMNS = (
    ("system", "filename"), ("registry", "filename"), ("registry_file", "filename"),
    ("block_custom", "body"), ("boxes", "body"), ("files", "filepath"), ("users", "picture"),
    ("node_revisions", "body"), ("node_revisions", "teaser"),
)
FIELD_PREFIXES = ("field_data_", "field_revision_")


def _where() -> str:
    exact = " OR ".join(f"(table_name = '{t}' AND column_name = '{c}')" for t, c in COLUMNS)
    fields = " OR ".join(f"table_name LIKE '{p.replace('_', chr(92) + '_')}%'" for p in FIELD_PREFIXES)
    return (f"({exact} OR (({fields}) AND (column_name LIKE '%\\\\_value' OR column_name LIKE '%\\\\_summary') "
            "AND data_type IN ('varchar', 'text', 'mediumtext', 'longtext')))")


def fix_paths_sql(old: str, new: str) -> str:
    """A SELECT that prints the UPDATE statements for this database (run with -N -B, then fed back)."""
    check_uri(old)
    check_uri(new)
    a, b = f"sites/{old}/", f"sites/{new}/"
    like = "%" + a.replace("_", "\\\\_") + "%"
    col = "REPLACE(column_name, '`', '``')"
    tab = "REPLACE(table_name, '`', '``')"
    updates = (
        f"SELECT CONCAT('UPDATE `', {tab}, '` SET `', {col}, '` = REPLACE(`', {col}, '`, ''{a}'', ''{b}'') "
        f"WHERE `', {col}, '` LIKE ''{like}'';') FROM information_schema.columns "
        f"WHERE table_schema = DATABASE() AND {_where()}"
    )
    # A variable holding one serialized string: s:<bytes>:"sites/<old>/...";
    value = "SUBSTRING(value, LOCATE(':\"', value) + 2, LENGTH(value) - LOCATE(':\"', value) - 3)"
    variables = (
        "SELECT CONCAT('UPDATE `variable` v JOIN (SELECT name, REPLACE(" + value.replace("'", "''")
        + f", ''{a}'', ''{b}'') AS s FROM `variable` WHERE value LIKE ''s:%:\"{a}%\";'') t USING (name) "
        "SET v.value = CONCAT(''s:'', LENGTH(t.s), '':\"'', t.s, ''\";'');') FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = 'variable'"
    )
    return f"{updates} UNION ALL {variables}"


def fix_paths_command(old: str, new: str, tmp: str) -> str:
    """The whole rewrite, credentials on stdin (``{db}`` is the site's database, filled in later)."""
    return (
        "set -o pipefail; umask 077; " + READ_CNF + f"cli={_tool('mariadb mysql')}; t={q(tmp)}; "
        + f"\"$cli\" {OPTS} -N -B -r -e {q(fix_paths_sql(old, new))} -- {{db}} > \"$t\" "
        + f"&& echo \"qm: $(wc -l < \"$t\") statements\" && \"$cli\" {OPTS} -- {{db}} < \"$t\"; rc=$?; "
        "rm -f -- \"$t\"; exit $rc"
    )
