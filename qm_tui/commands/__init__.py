"""Sub-commands of the CLI. Each module registers its commands with ``cli.command``."""

from . import config_cmd, inventory_cmd  # noqa: F401
