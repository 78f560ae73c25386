"""``drush updatedb`` for the stand-in: pending ``hook_update_N`` found in the platform's code, applied
to the site's real schema versions.

Where the code is: the module's ``<name>.install`` next to its ``.info``/``.info.yml``, found like Drupal's
drupal_system_listing() (core, then the install profile, then sites/all, then the site dir; later wins).
Installed versions: ``system.schema_version`` (D6/D7) or ``key_value`` 'system.schema' (D8+); enabled
modules: ``system.status = 1`` or the ``core.extension`` config.

Test hooks in a ``.install`` file:
  ``// standin: update <N> fails``          -> <module>_update_<N> throws; exit 1, partial state.
  ``// standin: update <N> fails quietly``  -> the same error, but exit 0 and "Finished performing
                                               updates." as drush did in many versions (#198, #3094).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .drush_env import DrushError, Env, Site, select_site
from .drush_phpser import serialize, unserialize
from .drush_site import clear_cache_tables, confirm, state_get, state_set, user_abort


class Injector(Protocol):
    def fail(self, command: str, mode: str = "") -> bool: ...
    def sleep(self, command: str, phase: str = "") -> None: ...


@dataclass
class Update:
    module: str
    number: int
    install: Path
    description: str
    fails: str  # '', 'loud' or 'quiet'

    @property
    def function(self) -> str:
        return f"{self.module}_update_{self.number}"


def _scan_roots(site: Site, profile: str) -> list[Path]:
    r = site.root
    if site.major >= 8:
        roots = [r / "core/modules", r / "core/profiles" / profile, r / "profiles" / profile, r / "modules"]
    else:
        roots = [r / "modules", r / "profiles" / profile]
    return roots + [r / "sites/all/modules", site.site_dir / "modules"]


def find_modules(site: Site, profile: str) -> dict[str, Path]:
    """module name -> its directory (the later scope wins, as in drupal_system_listing())."""
    suffix = ".info.yml" if site.major >= 8 else ".info"
    found: dict[str, Path] = {}
    for base in _scan_roots(site, profile):
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in ("tests", "CVS") and not d.startswith("."))
            for fn in filenames:
                if fn.endswith(suffix):
                    found[fn[: -len(suffix)]] = Path(dirpath)
    return found


_MARKER = re.compile(r"//\s*standin:\s*update\s+(\d+)\s+fails(\s+quietly)?")


def code_updates(module: str, directory: Path) -> list[Update]:
    install = directory / f"{module}.install"
    if not install.is_file():
        return []
    text = install.read_text(errors="replace")
    fails = {int(m.group(1)): ("quiet" if m.group(2) else "loud") for m in _MARKER.finditer(text)}
    out = []
    for m in re.finditer(rf"function\s+{re.escape(module)}_update_(\d+)\s*\(", text):
        n = int(m.group(1))
        doc = re.search(r"/\*\*(.*?)\*/\s*$", text[: m.start()], re.S)
        lines = [ln.strip(" *\t") for ln in doc.group(1).splitlines()] if doc else []
        desc = next((ln for ln in lines if ln), "")
        out.append(Update(module, n, install, desc, fails.get(n, "")))
    return sorted(out, key=lambda u: u.number)


def installed_versions(site: Site, cur: Any) -> dict[str, int]:
    """Enabled modules and their installed schema versions (-1 = not installed)."""
    if site.major < 8:
        cur.execute("SELECT name, schema_version FROM system WHERE type = 'module' AND status = 1")
        return {_s(n): int(v) for n, v in cur.fetchall()}
    cur.execute("SELECT name, value FROM key_value WHERE collection = 'system.schema'")
    schema = {_s(n): unserialize(v) for n, v in cur.fetchall()}
    cur.execute("SELECT data FROM config WHERE name = 'core.extension'")
    row = cur.fetchone()
    enabled = list((unserialize(row[0]) or {}).get("module", {})) if row else list(schema)
    return {m: int(schema[m]) for m in enabled if m in schema}


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def set_version(site: Site, cur: Any, module: str, number: int) -> None:
    if site.major < 8:
        cur.execute("UPDATE system SET schema_version = %s WHERE type = 'module' AND name = %s", (number, module))
    else:
        cur.execute(
            "INSERT INTO key_value (collection, name, value) VALUES ('system.schema', %s, %s) "
            "ON DUPLICATE KEY UPDATE value = VALUES(value)",
            (module, serialize(number)),
        )


def pending_updates(site: Site, cur: Any) -> list[Update]:
    profile = str(site.alias.get("profile") or site.drushrc.get("profile") or "standard")
    code = find_modules(site, profile)
    pending = []
    for module, version in installed_versions(site, cur).items():
        if version < 0 or module not in code:
            continue
        pending += [u for u in code_updates(module, code[module]) if u.number > version]
    # system's updates run first (updatedb_status() puts it first), then by module name.
    return sorted(pending, key=lambda u: (u.module != "system", u.module, u.number))


def _print_pending(env: Env, site: Site, pending: list[Update]) -> None:
    if site.major >= 8:  # drush 8 on D8: per-module list
        env.out.print("The following updates are pending:")
        env.out.print()
        for module in dict.fromkeys(u.module for u in pending):
            env.out.print(f"{module} module : ")
            for u in pending:
                if u.module == module:
                    env.out.print(f"  {u.number} -   {u.description}")
            env.out.print()
        return
    rows = [(u.module.capitalize(), str(u.number), u.description) for u in pending]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        env.out.print(" " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def cmd_updatedb(env: Env, alias: str | None, args: list[str], inject: Injector) -> int:
    site = select_site(env, alias)
    site.bootstrap("updatedb")
    conn = site.connect()
    with conn, conn.cursor() as cur:
        pending = pending_updates(site, cur)
        if not pending:
            env.out.log("No database updates required", "success")
            return 0
        _print_pending(env, site, pending)
        if not confirm(env, "Do you wish to run all pending updates?"):
            return user_abort(env)
        d8 = site.major >= 8
        restore_maint = False
        if d8 and not state_get(site, "system.maintenance_mode"):
            # drush >= 9 (what runs D8+): maintenance on, and off again as the LAST batch operation,
            # so it stays on when an update aborts or the process is killed.
            state_set(site, "system.maintenance_mode", True)
            restore_maint = True
        aborted: set[str] = set()
        started: set[str] = set()
        failed: list[Update] = []
        ok_label = "success" if site.major < 7 else "ok"
        for i, u in enumerate(pending):
            if u.module in aborted:
                continue
            if u.module not in started:
                # drush_update_batch(): each module's schema is first set to <first pending> - 1.
                started.add(u.module)
                set_version(site, cur, u.module, u.number - 1)
            if u.fails:
                failed.append(u)
                aborted.add(u.module)
                rel = os.path.relpath(u.install, site.root)
                env.out.log(f"standin: simulated exception in {u.function}() (marker in {rel})", "error")
                if d8:
                    break  # drush >= 9: the batch stops at the first abort
                env.out.log(f"Performed update: {u.function}", ok_label)  # D7 sets the message anyway
                continue
            set_version(site, cur, u.module, u.number)
            if d8:
                env.out.log(f"Performing {u.function}", "ok")
            else:
                env.out.log(f"{'Performed update:' if site.major >= 7 else 'Executing'} {u.function}", ok_label)
            if i == 0:
                if inject.fail("updatedb", "after-partial"):
                    raise DrushError("standin: injected failure of updatedb")
                inject.sleep("updatedb", "after-first")
        if failed:
            if d8:
                env.out.log(f"Update aborted by: {failed[0].function}", "error")
                restore_maint = False  # the restoring operation never ran
            if any(u.fails == "loud" for u in failed):
                return 1
        if restore_maint:
            state_set(site, "system.maintenance_mode", False)
    clear_cache_tables(site)
    env.out.log("Cache rebuild complete." if site.major >= 8 else "'all' cache was cleared.",
                "ok" if site.major >= 8 else "success")
    env.out.log("Finished performing updates.", "ok")
    return 0

