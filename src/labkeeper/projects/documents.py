"""The JSON documents of a project: defaults and validation, with no store access.

Every `check_*` function returns the document to store or raises BadRequest naming the
field to fix; keys labkeeper does not interpret are kept as sent.
"""

from __future__ import annotations

import copy
from typing import Any

from labkeeper.errors import BadRequest
from labkeeper.names import check_name, check_text

ENV_MODES = ("INHERIT", "USE_BUILTIN_MODE", "EXPLICIT_ENV")
ENV_LANGS = {"python": "PYTHON", "r": "R"}
GRANT_FLAGS = (
    "admin",
    "readProjectContent",
    "writeProjectContent",
    "exportDatasetsData",
    "readDashboards",
    "writeDashboards",
    "moderateDashboards",
    "runScenarios",
    "manageDashboardAuthorizations",
    "manageExposedElements",
    "manageAdditionalDashboardUsers",
    "executeApp",
    "shareToWorkspaces",
    "editPermissions",
    "publishToDataCollections",
)
MAX_TAGS = 200
MAX_DESCRIPTION = 64 * 1024

DEFAULT_SETTINGS: dict[str, Any] = {
    "settings": {
        "codeEnvs": {
            "python": {"mode": "INHERIT", "useBuiltinEnv": False, "envName": None},
            "r": {"mode": "INHERIT", "useBuiltinEnv": False, "envName": None},
        },
        "container": {"containerMode": "INHERIT"},
        "k8sCluster": {"clusterMode": "INHERIT"},
        "cluster": {"clusterMode": "INHERIT"},
    },
    "exposedObjects": {"objects": []},
}


def require_dict(where: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid {where}: a JSON object is required, got {type(value).__name__}")
    return value


def check_tags(where: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"Invalid {where}: a list of strings is required, got {type(value).__name__}")
    if len(value) > MAX_TAGS:
        raise BadRequest(f"Invalid {where}: at most {MAX_TAGS} tags, got {len(value)}")
    return [check_text(f"tag in {where}", tag, max_length=200, allow_empty=False) for tag in value]


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


# ---- metadata -------------------------------------------------------------------------


def default_metadata(*, label: str, description: str = "", tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "label": label,
        "description": description,
        "shortDesc": "",
        "tags": list(tags or []),
        "checklists": {"checklists": []},
        "custom": {"kv": {}},
        "customFields": {},
    }


def check_metadata(body: object) -> dict[str, Any]:
    doc = copy.deepcopy(require_dict("project metadata", body))
    doc["label"] = check_text("metadata label", doc.get("label"), max_length=200, allow_empty=False)
    doc["description"] = check_text(
        "metadata description", doc.get("description"), max_length=MAX_DESCRIPTION
    )
    doc["shortDesc"] = check_text("metadata shortDesc", doc.get("shortDesc"), max_length=1000)
    doc["tags"] = check_tags("metadata tags", doc.get("tags"))
    checklists = doc.get("checklists") if doc.get("checklists") is not None else {"checklists": []}
    doc["checklists"] = require_dict("metadata checklists", checklists)
    if not isinstance(doc["checklists"].get("checklists", []), list):
        raise BadRequest("Invalid metadata checklists.checklists: a list is required")
    doc["custom"] = require_dict(
        "metadata custom", doc.get("custom") if doc.get("custom") is not None else {"kv": {}}
    )
    if "customFields" in doc and doc["customFields"] is not None:
        require_dict("metadata customFields", doc["customFields"])
    return doc


# What the metadata shows but settings or the tags route set: a metadata PUT that leaves
# them out keeps them.
METADATA_KEPT_FROM_SETTINGS = ("projectStatus", "tagDefinitions")


def with_status(metadata: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The metadata with the project status the settings name (DSS keeps it in settings,
    the summary and list show it)."""
    inner = settings.get("settings") if isinstance(settings.get("settings"), dict) else {}
    status = inner.get("projectStatus", settings.get("projectStatus"))
    if status is not None and not isinstance(status, str):
        raise BadRequest(f"Invalid projectStatus: a string is required, got {type(status).__name__}")
    if status is not None:
        check_text("projectStatus", status, max_length=200)
    return {**metadata, "projectStatus": status}


# ---- settings -------------------------------------------------------------------------


def default_settings() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_SETTINGS)


def settings_with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    return _deep_merge(default_settings(), copy.deepcopy(stored))


def initial_settings(given: object) -> dict[str, Any]:
    """Settings given at creation: a whole document (with a "settings" object) or only
    the inner "settings" object; either is merged over the defaults."""
    if given is None:
        return default_settings()
    given = require_dict("project settings", given)
    whole = given if isinstance(given.get("settings"), dict) else {"settings": given}
    return check_settings(settings_with_defaults(whole))


def _check_env_selection(where: str, selection: object) -> dict[str, Any]:
    selection = require_dict(where, selection)
    mode = selection.get("mode")
    if mode not in ENV_MODES:
        raise BadRequest(f"Invalid {where}.mode {mode!r}: use one of {', '.join(ENV_MODES)}")
    if mode == "EXPLICIT_ENV":
        check_name(f"{where}.envName (code env name)", selection.get("envName"))
    elif selection.get("envName") is not None and not isinstance(selection.get("envName"), str):
        raise BadRequest(f"Invalid {where}.envName: a string or null is required")
    if "useBuiltinEnv" in selection and not isinstance(selection["useBuiltinEnv"], bool):
        raise BadRequest(f"Invalid {where}.useBuiltinEnv: true or false is required")
    return selection


def check_settings(body: object) -> dict[str, Any]:
    doc = copy.deepcopy(require_dict("project settings", body))
    inner = require_dict("project settings.settings", doc.get("settings", {}))
    envs = require_dict("settings.codeEnvs", inner.get("codeEnvs", {}))
    for lang in ENV_LANGS:
        if lang in envs:
            _check_env_selection(f"settings.codeEnvs.{lang}", envs[lang])
    for section in ("container", "k8sCluster", "cluster"):
        if section in inner:
            require_dict(f"settings.{section}", inner[section])
    if "exposedObjects" in doc:
        exposed = require_dict("exposedObjects", doc["exposedObjects"])
        if not isinstance(exposed.get("objects", []), list):
            raise BadRequest("Invalid exposedObjects.objects: a list is required")
    return doc


# labkeeper's key of the project settings pinning the project's kernels to the nodes that carry
# a label (`labkeeper worker --label`); only admins change it (`node_label_change`).
NODE_LABEL_KEY = "nodeLabel"


def node_label_change(current: dict[str, Any], doc: dict[str, Any]) -> str | None:
    """The label `doc` sets when it changes the project's pin ("" to remove it), else None. A
    document without the key keeps the pin (written back into `doc`): dropping it moves nothing."""
    before = str(current.get(NODE_LABEL_KEY) or "")
    if NODE_LABEL_KEY not in doc:
        if before:
            doc[NODE_LABEL_KEY] = before
        return None
    wanted = doc[NODE_LABEL_KEY]
    if wanted is None or wanted == "":
        doc.pop(NODE_LABEL_KEY)
        wanted = ""
    else:
        from labkeeper.nodes.service import check_label

        check_label(wanted, NODE_LABEL_KEY)
    return None if wanted == before else wanted


def explicit_env(settings: dict[str, Any], lang: str) -> str | None:
    """The code env a project names explicitly for `lang` (python or r), else None."""
    selection = (settings.get("settings") or {}).get("codeEnvs", {}).get(lang) or {}
    return selection.get("envName") if selection.get("mode") == "EXPLICIT_ENV" else None


# ---- permissions ----------------------------------------------------------------------


def check_grants(value: object) -> list[dict[str, Any]]:
    """Shape of the grants list; whether the named groups and users exist is checked by
    the service, against the store."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"Invalid permissions: a list of grants is required, got {type(value).__name__}")
    grants = []
    for index, grant in enumerate(value):
        grant = require_dict(f"permissions[{index}]", grant)
        group, user = grant.get("group"), grant.get("user")
        if (group is None) == (user is None):
            raise BadRequest(f"Invalid permissions[{index}]: name exactly one of 'group' or 'user'")
        field = "group" if group is not None else "user"
        check_text(
            f"permissions[{index}].{field}",
            group if group is not None else user,
            max_length=100,
            allow_empty=False,
        )
        for flag in GRANT_FLAGS:
            if flag in grant and not isinstance(grant[flag], bool):
                raise BadRequest(f"Invalid permissions[{index}].{flag}: true or false is required")
        grants.append(dict(grant))
    return grants


def check_permissions(body: object) -> dict[str, Any]:
    doc = copy.deepcopy(require_dict("project permissions", body))
    doc["owner"] = check_text("project owner", doc.get("owner"), max_length=100, allow_empty=False)
    doc["permissions"] = check_grants(doc.get("permissions"))
    return doc


# ---- variables ------------------------------------------------------------------------


def check_variables(body: object) -> tuple[dict[str, Any], dict[str, Any]]:
    body = require_dict("project variables", body)
    for part in ("standard", "local"):
        if part not in body:
            raise BadRequest(f"Invalid project variables: the '{part}' object is missing")
        require_dict(f"project variables '{part}'", body[part])
    return dict(body["standard"]), dict(body["local"])
