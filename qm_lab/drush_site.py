"""Site-level drush 8 commands of the stand-in: variable-get/-set, state-get/-set, cache-clear,
cache-rebuild and core-status, acting on the site's real database."""

from __future__ import annotations

import re
import sys
from typing import Any

import pymysql

from .drush_env import DrushError, Env, Site, drupal_version, select_site
from .drush_phpser import drush_value_format, php_json, serialize, unserialize, yaml_dump

DRUSH_VERSION = "8.4.12"
EXIT_USER_ABORT = 75  # DRUSH_EXITCODE_USER_ABORT


def table_exists(cur: Any, name: str) -> bool:
    cur.execute("SHOW TABLES LIKE %s", (name,))
    return cur.fetchone() is not None


def _adjust_name(site: Site, name: str) -> str:
    # drush_variable_name_adjust(): the two maintenance variables are swapped by core version.
    if name == "maintenance_mode" and site.major < 7:
        return "site_offline"
    if name == "site_offline" and site.major >= 7:
        return "maintenance_mode"
    return name


def choose(env: Env, prompt: str, options: list[str]) -> int | None:
    """drush_choice(): --yes picks only when there is exactly one option, otherwise it cancels."""
    env.out.print(prompt)
    env.out.print(" [0]  :  Cancel")
    for i, opt in enumerate(options, 1):
        env.out.print(f" [{i}]  :  {opt}")
    if env.yes:
        return 0 if len(options) == 1 else None
    if env.opt("no"):
        return None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        if line.isdigit() and 1 <= int(line) <= len(options):
            return int(line) - 1
    return None


def confirm(env: Env, question: str) -> bool:
    sys.stdout.write(f"{question} (y/n): ")
    if env.yes:
        env.out.print("y")
        return True
    if env.opt("no"):
        env.out.print("n")
        return False
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() in ("y", "n"):
            return line.strip() == "y"
        sys.stdout.write(f"{question} (y/n): ")
        sys.stdout.flush()
    return False


def user_abort(env: Env) -> int:
    env.out.log("Cancelled.", "cancel")
    return EXIT_USER_ABORT


def cmd_variable_set(env: Env, alias: str | None, args: list[str]) -> int:
    site = select_site(env, alias)
    site.bootstrap("variable-set", core="6,7")
    if len(args) < 2:
        raise DrushError("Missing argument 2")
    name = _adjust_name(site, args[0])
    raw = sys.stdin.read() if args[1] == "-" else args[1]
    value = drush_value_format(raw, str(env.opt("format", "auto")))
    if isinstance(value, bool):
        display = "TRUE" if value else "FALSE"
    elif isinstance(value, int):
        display = str(value)
    else:
        display = f'"{value}"'
    conn = site.connect()
    with conn, conn.cursor() as cur:
        # drush_variable_like(): an unescaped LIKE prefix match, so '_' is a wildcard too.
        cur.execute("SELECT name FROM variable WHERE name LIKE %s ORDER BY name", (name + "%",))
        options, match = [f"{name} (new variable)"], False
        for (found,) in cur.fetchall():
            found = found.decode() if isinstance(found, bytes) else found
            if found == name:
                options[0], match = name, True
                break
            options.append(found)
        chosen = name
        if not (env.opt("exact") or env.opt("always-set") or len(options) == 1 or match):
            # The hazard: maintenance_mode absent but maintenance_mode_message present -> a prompt,
            # and --yes cancels it (exit 75) instead of setting anything.
            pick = choose(env, "Enter a number to choose which variable to set.", options)
            if pick is None:
                return user_abort(env)
            chosen = options[pick].replace(" (new variable)", "")
        cur.execute(
            "INSERT INTO variable (name, value) VALUES (%s, %s) ON DUPLICATE KEY UPDATE value = VALUES(value)",
            (chosen, serialize(value)),
        )
        # variable_set() clears the cached variables: cache_bootstrap in D7, cache in D6.
        bin_ = "cache_bootstrap" if site.major >= 7 else "cache"
        if table_exists(cur, bin_):
            cur.execute(f"DELETE FROM `{bin_}` WHERE cid = 'variables'")
    env.out.log(f"{chosen} was set to {display}.", "success")
    return 0


_CONF_LINE = re.compile(r"^\s*\$conf\[\s*(['\"])([^'\"]+)\1\s*\]\s*=\s*(.+?);\s*$", re.M)


def settings_conf(site: Site) -> dict[str, Any]:
    """Literal ``$conf['x'] = ...;`` overrides in settings.php (Aegir writes several) and in the files it
    includes (the site's local.settings.php: by absolute path, so a stale settings.php misses it)."""
    from qm_tui.engine import phpfiles

    from .drush_env import settings_sources

    text = "\n".join(p.read_text(errors="replace") for p in settings_sources(site.site_dir / "settings.php"))
    out: dict[str, Any] = {}
    for m in _CONF_LINE.finditer(text):
        try:
            out[m.group(2)] = phpfiles.parse_assignments(f"$c['v'] = {m.group(3)};", "c")["v"]
        except phpfiles.PhpParseError:
            continue
    return out


def cmd_variable_get(env: Env, alias: str | None, args: list[str]) -> int:
    site = select_site(env, alias)
    site.bootstrap("variable-get", core="6,7")
    conf: dict[str, Any] = {}
    conn = site.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT name, value FROM variable ORDER BY name")
        for name, value in cur.fetchall():
            name = name.decode() if isinstance(name, bytes) else name
            try:
                conf[name] = unserialize(value)
            except ValueError:
                conf[name] = False  # unserialize() failure yields FALSE in PHP
    # settings.php $conf and drush's own bootstrap overrides win over the variable table.
    conf.update(settings_conf(site))
    conf.update({"dev_query": False, "cron_safe_threshold": 0})
    keys = list(conf)
    exact = bool(env.opt("exact"))
    if args:
        name = _adjust_name(site, args[0])
        if exact:
            keys = [name] if name in keys else []
        try:
            keys = [k for k in keys if re.search(name, k)]  # preg_grep("/$name/")
        except re.error:
            keys = []
    if not keys:
        raise DrushError("No matching variable found.")
    result: Any = conf[keys[0]] if exact else {k: conf[k] for k in keys}
    fmt = str(env.opt("format", "yaml"))
    env.out.print(php_json(result) if fmt == "json" else yaml_dump(result).rstrip("\n"))
    return 0


def _state_site(env: Env, alias: str | None, command: str) -> Site:
    site = select_site(env, alias)
    site.bootstrap(command, core="8+")
    return site


def state_get(site: Site, key: str) -> Any:
    conn = site.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT value FROM key_value WHERE collection = 'state' AND name = %s", (key,))
        row = cur.fetchone()
    return unserialize(row[0]) if row else None


def state_set(site: Site, key: str, value: Any) -> None:
    conn = site.connect()
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO key_value (collection, name, value) VALUES ('state', %s, %s) "
            "ON DUPLICATE KEY UPDATE value = VALUES(value)",
            (key, serialize(value)),
        )
        if table_exists(cur, "cache_bootstrap"):  # D10.3+ caches state as one 'state' item
            cur.execute("DELETE FROM cache_bootstrap WHERE cid = 'state'")


def cmd_state_get(env: Env, alias: str | None, args: list[str]) -> int:
    site = _state_site(env, alias, "state-get")
    if not args:
        raise DrushError("Missing argument 1")
    value = state_get(site, args[0])
    fmt = str(env.opt("format", "json"))
    env.out.print(yaml_dump(value).rstrip("\n") if fmt == "yaml" else php_json(value))
    return 0


def cmd_state_set(env: Env, alias: str | None, args: list[str]) -> int:
    site = _state_site(env, alias, "state-set")
    if len(args) < 2 and env.opt("value") is None:
        raise DrushError("No state value specified.")
    raw = str(env.opt("value", args[1] if len(args) > 1 else ""))
    if raw == "-":
        raw = sys.stdin.read()
    fmt = str(env.opt("input-format", env.opt("format", "auto")))
    state_set(site, args[0], drush_value_format(raw, fmt))
    return 0


def clear_cache_tables(site: Site) -> list[str]:
    """Empty every cache bin: D7 drupal_flush_all_caches() truncates them ('*', wildcard), except
    cache_form; D8+ deleteAll() on each cache_* bin (cachetags is not a bin)."""
    cleared = []
    conn = site.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        for (name,) in cur.fetchall():
            name = name.decode() if isinstance(name, bytes) else name
            if (name == "cache" or name.startswith("cache_")) and name != "cache_form":
                cur.execute(f"DELETE FROM `{name}`")
                cleared.append(name)
    return cleared


def cmd_cache_clear(env: Env, alias: str | None, args: list[str]) -> int:
    site = select_site(env, alias)
    site.bootstrap("cache-clear")
    if not args:
        if choose(env, "Enter a number to choose which cache to clear.", ["drush", "all"]) is None:
            return user_abort(env)
        args = ["all"]
    kind = args[0]
    if site.major >= 8:
        if kind == "all":
            raise DrushError(
                "`cache-clear all` is deprecated for Drupal 8 and later. Please use the `cache-rebuild` "
                "command instead."
            )
    if kind == "all":
        clear_cache_tables(site)
    elif kind != "drush":
        raise DrushError(f"'{kind}' cache is not supported by the drush stand-in (only 'all' and 'drush').")
    env.out.log(f"'{kind}' cache was cleared.", "success")
    return 0


def cmd_cache_rebuild(env: Env, alias: str | None, args: list[str]) -> int:
    site = select_site(env, alias)
    site.bootstrap("cache-rebuild", core="8+")
    clear_cache_tables(site)
    env.out.log("Cache rebuild complete.", "ok")
    return 0


def cmd_status(env: Env, alias: str | None, args: list[str]) -> int:
    """core-status: reports what it can and never fails on a broken site, like drush 8.
    The database password is never printed (drush hides it without --show-passwords)."""
    site = select_site(env, alias)
    table: dict[str, Any] = {}
    version = drupal_version(site.root) if site.root.is_absolute() else None
    if version:
        table["drupal-version"] = version
        table["uri"] = site.uri
        try:
            site.bootstrap("core-status", full=False)
            table["drupal-settings-file"] = f"sites/{site.site_dir.name}/settings.php"
            table["db-driver"] = "mysql"
            table["db-hostname"] = site.creds.get("db_host")
            table["db-username"] = site.creds.get("db_user")
            table["db-name"] = site.creds.get("db_name")
            table["db-port"] = site.creds.get("db_port")
            table["install-profile"] = site.alias.get("profile") or site.drushrc.get("profile")
            if site.db_ok():
                table["db-status"] = "Connected"
                table["bootstrap"] = "Successful"
        except (DrushError, pymysql.MySQLError):
            pass
        table["root"] = str(site.root)
        if site.site_dir.name:
            table["site"] = f"sites/{site.site_dir.name}"
            table["files"] = f"sites/{site.site_dir.name}/files"
    table["php-os"] = "Linux"
    table["drush-script"] = sys.argv[0]
    table["drush-version"] = DRUSH_VERSION
    table["drush-temp"] = "/tmp"  # noqa: S108 - a reported value, not a path we use
    table["drush-conf"] = []
    table["drush-alias-files"] = sorted(str(p) for p in env.drush_dir.glob("*.alias.drushrc.php"))
    if env.opt("format") == "json":
        env.out.print(php_json(table))
    else:
        for k, v in table.items():
            label = k.replace("-", " ").capitalize()
            shown = " ".join(v) if isinstance(v, list) else ("" if v is None else str(v))
            env.out.print(f" {label:<24}:  {shown}")
    return 0


def cmd_version(env: Env, alias: str | None, args: list[str]) -> int:
    env.out.print(f" Drush Version   :  {DRUSH_VERSION} ")
    return 0
