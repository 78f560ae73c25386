"""Steps by concern: ``base`` (what a step is), ``files`` (directories, by rename), ``site`` (drush on the
site and the hostmaster), ``db`` (dump, path rewrite), ``rename`` (what only a rename needs),
``http_check`` (each front serves the site)."""

from .base import SSH_OPTS, Command, Probe, Role, Runtime, Step, StepFailed, StepUnknown, expect_ok, last_line
from .db import DumpDb, FixDbPaths
from .files import (
    FetchCode,
    MoveSiteDir,
    ParkFiles,
    PushSite,
    RemoveOldAliases,
    RemoveOldSiteDir,
    RemoveOldVhosts,
    RestoreFiles,
    guard_fronts,
    source_context_commands,
)
from .http_check import HttpCheck, http_check_steps
from .rename import DeleteOldAlias, RenameRecord
from .site import (
    AegirVerifyTask,
    CacheClear,
    Drush,
    HostingImport,
    Maintenance,
    PostCheck,
    ProvisionSave,
    UpdateDb,
    Verify,
)

__all__ = ["SSH_OPTS", "AegirVerifyTask", "CacheClear", "Command", "DeleteOldAlias", "Drush", "DumpDb", "FetchCode",
           "FixDbPaths", "HostingImport", "HttpCheck", "Maintenance", "MoveSiteDir", "ParkFiles", "Probe",
           "ProvisionSave", "PostCheck", "PushSite", "RemoveOldAliases", "RemoveOldSiteDir", "RemoveOldVhosts",
           "RenameRecord", "RestoreFiles", "Role", "Runtime", "Step", "StepFailed", "StepUnknown", "UpdateDb",
           "Verify", "expect_ok", "guard_fronts", "http_check_steps", "last_line", "source_context_commands"]
