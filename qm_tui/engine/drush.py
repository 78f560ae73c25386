"""Drush command templates (Aegir 3 + drush 8 defaults), overridable in config per Drupal major.

A template is split into words first and each word is formatted and quoted on its own, so a value
can never add words or shell syntax to the command.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from ..errors import QmError
from .safety import sh_join

# name -> {major or "default": template}; major keys are "6", "7", "8" (8 = 8 and later).
DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "maintenance": {
        "6": "{drush} @{uri} vset --exact --yes site_offline {value}",
        "7": "{drush} @{uri} vset --exact --yes maintenance_mode {value}",
        "8": "{drush} @{uri} state-set system.maintenance_mode {value} --input-format=integer",
    },
    "maintenance_get": {
        "6": "{drush} @{uri} vget site_offline --exact --format=json",
        "7": "{drush} @{uri} vget maintenance_mode --exact --format=json",
        "8": "{drush} @{uri} state-get system.maintenance_mode --format=json",
    },
    "updatedb": {"default": "{drush} @{uri} updatedb --yes"},
    "cache": {
        "6": "{drush} @{uri} cache-clear all",
        "7": "{drush} @{uri} cache-clear all",
        "8": "{drush} @{uri} cache-rebuild",
    },
    "provision_save": {
        "default": "{drush} provision-save @{uri} --context_type=site --uri={uri} "
                   "--platform=@{platform_context} --root={platform_root} --profile={profile} "
                   "--aliases={aliases} --redirection={redirection}",
    },
    "verify": {"default": "{drush} @{uri} provision-verify"},
    "import": {"default": "{drush} @hostmaster hosting-import @{uri}"},
    "verify_task": {"default": "{drush} @hostmaster hosting-task @{uri} verify --force"},
    # A rename: the old name's alias removed, and the site node renamed as hosting_migrate's post-task
    # hook does (title and context; no_verify: no verify task queued by the save).
    "status": {"default": "{drush} @{uri} core-status --format=json"},
    "delete_alias": {"default": "{drush} provision-save @{uri} --delete"},
    "rename_record": {
        "default": "{drush} @hostmaster php-eval \"$node = node_load({site_nid}); $node->title = '{uri}'; "
                   "$node->no_verify = TRUE; node_save($node); hosting_context_register({site_nid}, '{uri}');\"",
    },
}


class TemplateError(QmError):
    pass


def _major_key(major: int | None) -> str:
    if major is None:
        return "7"
    return "8" if major >= 8 else str(major)


def render(templates: Mapping[str, Mapping[str, str]], name: str, major: int | None,
           **values: str | int) -> str:
    table = templates.get(name) or DEFAULT_TEMPLATES[name]
    key = _major_key(major)
    template = table.get(key) or table.get("default") or DEFAULT_TEMPLATES[name].get(key) \
        or DEFAULT_TEMPLATES[name].get("default")
    if template is None:
        raise TemplateError(f"no drush template {name!r} for Drupal {major}")
    try:
        words = [w.format(**values) for w in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(f"drush template {name!r} ({template!r}) is invalid: {exc}") from None
    return sh_join(words)


def merge_templates(overrides: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    merged = {k: dict(v) for k, v in DEFAULT_TEMPLATES.items()}
    for name, table in (overrides or {}).items():
        if name not in merged:
            raise TemplateError(f"unknown drush template {name!r} (known: {', '.join(sorted(merged))})")
        merged[name].update({str(k): v for k, v in table.items()})
    return merged
