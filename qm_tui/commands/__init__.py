"""Sub-commands of the CLI. Each module registers its commands with ``cli.command``."""

from . import (  # noqa: F401
    batch_cmd,
    compare_cmd,
    config_cmd,
    demo_cmd,
    inventory_cmd,
    migrate_cmd,
    ops_cmd,
    runs_cmd,
)
