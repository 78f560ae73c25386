"""Command line: the same engine the TUI uses, for scripts (``--json``) and people.

Exit codes: 0 ok, 1 failed, 2 usage/config/refused (nothing changed), 3 needs attention.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .config import Config, load_config
from .errors import QmError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ATTENTION = 0, 1, 2, 3


class UsageError(QmError):
    """A one-line error for the user; exit 2."""


Handler = Callable[[argparse.Namespace], int]
_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def command(name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a sub-command; modules add theirs by importing this decorator."""

    def wrap(fn: Handler) -> Handler:
        _COMMANDS.append((name, help_text, configure, fn))
        return fn

    return wrap


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qm-tui",
        description="Quick-migrate Drupal sites between Aegir platforms. "
        "Without a command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"qm-tui {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $QM_TUI_CONFIG, "
                        "then $XDG_CONFIG_HOME/qm-tui/config.yaml)")
    parser.add_argument("--read-only", action="store_true", help="TUI: hide every dangerous action")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, configure, fn in _COMMANDS:
        # A command without help text is internal (the detached runner): not listed in --help.
        p = sub.add_parser(name, help=help_text, description=help_text) if help_text else sub.add_parser(name)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
        configure(p)
        p.set_defaults(handler=fn)
    return parser


def config_from(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def _run_tui(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    from .app import run_app

    return run_app(cfg, read_only=args.read_only)


def main(argv: Sequence[str] | None = None) -> int:
    _load_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = getattr(args, "handler", _run_tui)
    try:
        return handler(args)
    except QmError as exc:
        print(f"qm-tui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("qm-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `qm-tui sites | head`: the reader left; not an error, and no traceback at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _load_commands() -> None:
    """Import the modules that register sub-commands (kept out of start-up of the engine)."""
    if _COMMANDS:
        return
    from . import commands  # noqa: F401


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
