"""Operations on a site (``migrate``, ``rename``): each one module, registered in ``OPERATIONS``."""

from . import migrate, rename  # noqa: F401 - registers them
from .base import OPERATIONS, Operation, Prepared, Summary, get_operation, register
from .context import SiteMoveContext, build_context
from .migrate import MigrationContext
from .rename import RenameContext

__all__ = ["OPERATIONS", "MigrationContext", "Operation", "Prepared", "RenameContext", "SiteMoveContext", "Summary",
           "build_context", "get_operation", "register"]
