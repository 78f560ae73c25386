"""A drush 8 + Aegir 3 (provision/hosting) stand-in for the lab and the demo sandbox.

Real drush and PHP cannot be installed here, so this imitates exactly the invocations qm-tui's engine
makes, on the site's REAL database and files (see docs/lab.md):

  drush --version | drush version
  drush @site vset [--yes] [--exact] [--format=F] NAME VALUE     (variable-set, D6/D7)
  drush @site vget NAME [--exact] [--format=json|yaml]            (variable-get, D6/D7)
  drush @site state-set KEY VALUE [--input-format=integer]        (sset, D8+)
  drush @site state-get KEY [--format=json|yaml]                  (sget, D8+)
  drush @site updatedb [--yes]                                    (updb)
  drush @site cache-clear all | cc all                            (D6/D7)
  drush @site cache-rebuild | cr                                  (D8+)
  drush @site status [--format=json]                              (core-status, st)
  drush provision-save @site --context_type=site --uri=U --platform=@P --root=R [--db_server=...]
  drush @site provision-verify
  drush @hostmaster hosting-import @site
  drush @hostmaster hosting-task @site verify [--force]            (a verify task, recorded as Aegir does)

The aegir root is $HOME (QM_STANDIN_AEGIR_ROOT overrides it). Every call appends one JSON line to
``<aegir root>/drush-standin.log`` (time, argv with secrets masked, cwd, exit, and under
``bootstrap.settings`` the settings files a site bootstrap loaded: settings.php and its includes).

Fault injection, read at every call:
  ``<aegir root>/drush-standin.fail``: one rule a line, ``<command>[:after-partial] [@alias] [once]``;
      a matching command prints "standin: injected failure of <command>" and exits 1 before acting.
      ``updatedb:after-partial`` applies the first pending update, then fails. ``once`` removes the rule
      when it fires; ``@alias`` limits it to that target. Command names or drush aliases (vset, updb, cc).
  ``<aegir root>/drush-standin.sleep``: ``<command>[:after-first] <seconds> [@alias]``; the command
      sleeps before acting (``updatedb:after-first``: after the first update). SIGTERM ends it at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .drush_env import DrushError, Env, Output

RESERVED_ALIASES = {"@self", "@none"}
SHORT_WITH_VALUE = {"r": "root", "l": "uri", "u": "user", "c": "config", "i": "include"}
SHORT_FLAGS = {"y": "yes", "n": "no", "v": "verbose", "d": "debug", "q": "quiet", "h": "help"}
SECRET_OPT = re.compile(r"^(--?[\w-]*(?:pass|secret|token)[\w-]*=).*$", re.I)

Handler = Callable[..., int]


def _commands() -> dict[str, tuple[Handler, frozenset[str]]]:
    from . import drush_hosting as h
    from . import drush_hosting_task as t
    from . import drush_php_eval as e
    from . import drush_provision as p
    from . import drush_site as s
    from . import drush_update as u

    return {
        "variable-set": (s.cmd_variable_set, frozenset({"vset", "variable:set"})),
        "variable-get": (s.cmd_variable_get, frozenset({"vget", "variable:get"})),
        "state-set": (s.cmd_state_set, frozenset({"sset", "state:set"})),
        "state-get": (s.cmd_state_get, frozenset({"sget", "state:get"})),
        "updatedb": (u.cmd_updatedb, frozenset({"updb"})),
        "cache-clear": (s.cmd_cache_clear, frozenset({"cc", "cache:clear"})),
        "cache-rebuild": (s.cmd_cache_rebuild, frozenset({"cr", "rebuild", "cache:rebuild"})),
        "core-status": (s.cmd_status, frozenset({"status", "st", "core:status"})),
        "version": (s.cmd_version, frozenset()),
        "provision-save": (p.cmd_provision_save, frozenset()),
        "provision-verify": (p.cmd_provision_verify, frozenset()),
        "hosting-import": (h.cmd_hosting_import, frozenset()),
        "hosting-task": (t.cmd_hosting_task, frozenset()),
        "php-eval": (e.cmd_php_eval, frozenset({"eval", "ev", "php:eval"})),
    }


def parse_argv(argv: list[str]) -> tuple[str | None, str | None, list[str], dict[str, Any]]:
    """drush's command line: [options] [@alias] command [args] [options], options anywhere."""
    alias: str | None = None
    command: str | None = None
    args: list[str] = []
    opts: dict[str, Any] = {}
    it = iter(argv)
    for tok in it:
        if tok.startswith("--") and len(tok) > 2:
            key, eq, val = tok[2:].partition("=")
            opts[key] = val if eq else True
        elif tok.startswith("-") and len(tok) > 1 and not tok[1].isdigit():
            for i, ch in enumerate(tok[1:]):
                if ch in SHORT_WITH_VALUE:
                    rest = tok[2 + i :]
                    opts[SHORT_WITH_VALUE[ch]] = rest if rest else next(it, "")
                    break
                opts[SHORT_FLAGS.get(ch, ch)] = True
        elif command is None and tok.startswith("@") and alias is None:
            alias = tok
        elif command is None:
            command = tok
        else:
            args.append(tok)
    return alias, command, args, opts


class Injector:
    def __init__(self, root: Path, names: frozenset[str], target: str | None) -> None:
        self.fail_path = root / "drush-standin.fail"
        self.sleep_path = root / "drush-standin.sleep"
        self.names = names
        self.target = "@" + target.lstrip("@") if target else None

    @staticmethod
    def _rules(path: Path) -> list[str]:
        try:
            return path.read_text().splitlines()
        except OSError:
            return []

    def _match(self, tokens: list[str], mode: str) -> bool:
        name, _, m = tokens[0].partition(":")
        wanted = [t for t in tokens[1:] if t.startswith("@")]
        return name in self.names and m == mode and (not wanted or self.target in wanted)

    def fail(self, command: str, mode: str = "") -> bool:
        lines = self._rules(self.fail_path)
        for i, line in enumerate(lines):
            tokens = line.split("#")[0].split()
            if tokens and self._match(tokens, mode):
                if "once" in tokens[1:]:
                    rest = lines[:i] + lines[i + 1 :]
                    self.fail_path.write_text("".join(x + "\n" for x in rest))
                return True
        return False

    def sleep(self, command: str, phase: str = "") -> None:
        for line in self._rules(self.sleep_path):
            tokens = line.split("#")[0].split()
            if len(tokens) >= 2 and self._match([tokens[0], *tokens[2:]], phase):
                try:
                    seconds = float(tokens[1])
                except ValueError:
                    continue
                end = time.monotonic() + seconds
                while (left := end - time.monotonic()) > 0:
                    time.sleep(min(left, 0.5))


def _mask(argv: list[str]) -> list[str]:
    return [SECRET_OPT.sub(r"\1***", a) for a in argv]


class CallLog:
    def __init__(self, root: Path, argv: list[str]) -> None:
        self.path = root / "drush-standin.log"
        self.start = time.time()
        self.entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.start)),
            "pid": os.getpid(),
            "argv": _mask(argv),
            "cwd": os.getcwd() if os.path.isdir(".") else None,
        }

    def write(self, exit_code: int | None, signal_name: str | None = None) -> None:
        entry = dict(self.entry, exit=exit_code, duration=round(time.time() - self.start, 3))
        if signal_name:
            entry["signal"] = signal_name
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps(entry) + "\n")
        except OSError:
            pass


def _on_signal(log: CallLog) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        # Log, then die of the signal like PHP would: no cleanup beyond what the kernel does.
        log.write(None, signal.Signals(signum).name)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return handler


def aegir_root() -> Path:
    return Path(os.environ.get("QM_STANDIN_AEGIR_ROOT") or os.environ.get("HOME") or "/var/aegir")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    root = aegir_root()
    log = CallLog(root, argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal(log))
    code = 1
    try:
        code = run(root, argv, log.entry.setdefault("bootstrap", {}))
    finally:
        log.write(code)
    return code


def run(root: Path, argv: list[str], record: dict[str, Any] | None = None) -> int:
    alias, command, args, opts = parse_argv(argv)
    out = Output(debug=bool(opts.get("debug")), verbose=bool(opts.get("verbose")))
    env = Env(root, out, opts, yes=bool(opts.get("yes")), record={} if record is None else record)
    if command is None:
        if opts.get("version"):
            command = "version"
        else:
            out.print("drush stand-in (qm-tui): " + ", ".join(_commands()))
            return 0
    table = _commands()
    canonical = next((c for c, (_, al) in table.items() if command == c or command in al), None)
    try:
        if alias and alias not in RESERVED_ALIASES and env.alias(alias) is None:
            raise DrushError(f"Could not find the alias {alias}")
        if canonical is None:
            words = " ".join([command, *args])
            raise DrushError(
                f"The drush command '{words}' could not be found.  Run `drush cache-clear drush` to clear "
                "the commandfile cache if you have installed new extensions."
            )
        handler, aliases = table[canonical]
        target = args[0] if args and args[0].startswith("@") else alias
        inject = Injector(root, aliases | {canonical}, target)
        inject.sleep(canonical)
        if inject.fail(canonical):
            raise DrushError(f"standin: injected failure of {canonical}")
        site_alias = None if alias in RESERVED_ALIASES else alias
        if canonical == "updatedb":
            return handler(env, site_alias, args, inject)
        return handler(env, site_alias, args)
    except DrushError as e:
        for msg in e.messages:
            out.log(msg, "error")
        return e.code
    except Exception as e:  # a PHP fatal error, in drush terms
        out.log(f"{type(e).__name__}: {e}", "error")
        if opts.get("debug"):
            sys.stderr.write(traceback.format_exc())
        out.log("Drush command terminated abnormally due to an unrecoverable error.", "error")
        return 1


SHIM = """#!{python}
# drush stand-in (qm-tui): imitates drush 8 + Aegir 3 for the lab; see qm_lab/drush_standin.py
import sys
sys.path[:0] = {paths!r}
from qm_lab.drush_standin import main
raise SystemExit(main())
"""


def standin_python() -> tuple[str, list[str]]:
    """An interpreter the aegir user can run, and the import paths it needs.

    The venv's interpreter may live where aegir cannot read (pyenv under /root); the system python3
    of the same minor version runs the stand-in from the package and PyMySQL's directories instead.
    """
    import pymysql

    import qm_tui

    paths = [str(Path(qm_tui.__file__).resolve().parent.parent), str(Path(pymysql.__file__).resolve().parent.parent)]
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    return (str(system) if system.exists() else sys.executable), list(dict.fromkeys(paths))


def install_standin(bin_dir: Path, python: str | None = None, paths: list[str] | None = None) -> Path:
    """Write ``<bin_dir>/drush`` (mode 0755) running the stand-in with ``python``."""
    if python is None:
        python, default_paths = standin_python()
        paths = default_paths if paths is None else paths
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "drush"
    tmp = bin_dir / f".drush.{os.getpid()}.tmp"
    tmp.write_text(SHIM.format(python=python, paths=list(paths or [])))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path
