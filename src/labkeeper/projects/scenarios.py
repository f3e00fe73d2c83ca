"""Scenarios: stored definitions (step-based, or a custom Python script kept as payload).

labkeeper does not run scenarios; it keeps their definitions, and counts the active ones
with at least one active trigger for the usage report.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from labkeeper.auth.models import User
from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Forbidden
from labkeeper.names import MAX_NAME_LENGTH, check_name, check_text
from labkeeper.projects.documents import require_dict
from labkeeper.projects.models import ProjectObject
from labkeeper.projects.objects import (
    check_identity,
    common_fields,
    ensure_absent,
    get_object,
    list_objects,
    project_session,
)

SCENARIO_TYPES = ("step_based", "custom_python")
MAX_SCRIPT = 4 * 1024 * 1024


def _scenario_doc(
    body: object, *, key: str, scenario_id: str, principal: Principal, previous: dict[str, Any] | None
) -> dict[str, Any]:
    doc = copy.deepcopy(require_dict("scenario", body))
    check_identity("SCENARIO", doc, key=key, name_field="id", name=scenario_id)
    doc["projectKey"], doc["id"] = key, scenario_id
    doc["name"] = check_text("scenario name", doc.get("name"), max_length=200, allow_empty=False)
    if doc.get("type") not in SCENARIO_TYPES:
        raise BadRequest(f"Invalid scenario type {doc.get('type')!r}: use one of {', '.join(SCENARIO_TYPES)}")
    if previous is not None and doc["type"] != previous.get("type"):
        raise BadRequest(f"Invalid scenario: its type is {previous.get('type')} and cannot be changed")
    params = doc["params"] = require_dict("scenario params", doc.get("params") or {})
    if doc["type"] == "step_based" and not isinstance(params.setdefault("steps", []), list):
        raise BadRequest("Invalid scenario params.steps: a list of steps is required")
    if not isinstance(doc.setdefault("active", False), bool):
        raise BadRequest("Invalid scenario active: true or false is required")
    for field in ("triggers", "reporters"):
        items = doc.setdefault(field, [])
        if not isinstance(items, list):
            raise BadRequest(f"Invalid scenario {field}: a list is required")
        for index, item in enumerate(items):
            item = require_dict(f"scenario {field}[{index}]", item)
            if not isinstance(item.get("active", True), bool):
                raise BadRequest(f"Invalid scenario {field}[{index}].active: true or false is required")
    run_as = doc.get("runAsUser")
    if run_as is not None:
        check_text("scenario runAsUser", run_as, max_length=100, allow_empty=False)
        if run_as != principal.login and not principal.admin and run_as != (previous or {}).get("runAsUser"):
            raise Forbidden(
                "Action forbidden: only an administrator can make a scenario run as another user",
                detail=f"{principal.name} may set runAsUser only to themself or leave it empty",
            )
    common_fields("SCENARIO", doc, principal=principal, previous=previous)
    return doc


def _apply(obj: ProjectObject, doc: dict[str, Any]) -> None:
    obj.definition, obj.type, obj.modified_on = doc, doc["type"], now_ms()
    obj.active_with_triggers = bool(doc["active"]) and any(t.get("active", True) for t in doc["triggers"])


def _check_run_as_exists(s, doc: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    if doc.get("runAsUser") is not None and s.get(User, doc["runAsUser"]) is None:
        raise BadRequest(f"Invalid scenario runAsUser {doc['runAsUser']!r}: no such user")


def _new_id(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Z0-9_]", "", name.upper().replace(" ", "_").replace("-", "_")) or "SCENARIO"
    base = base.lstrip("_")[: MAX_NAME_LENGTH - 6] or "SCENARIO"
    scenario_id, n = base, 1
    while scenario_id in taken:
        n += 1
        scenario_id = f"{base}_{n}"
    return scenario_id


def status(doc: dict[str, Any]) -> dict[str, Any]:
    """The light view: identity, activity, and no run (labkeeper does not run scenarios)."""
    return {
        "projectKey": doc["projectKey"],
        "id": doc["id"],
        "name": doc["name"],
        "type": doc["type"],
        "active": doc["active"],
        "running": False,
        "nextRun": 0,
        "tags": doc.get("tags", []),
        "description": doc.get("description", ""),
        "shortDesc": doc.get("shortDesc", ""),
    }


def list_scenarios(store: Store, *, principal: Principal, key: str) -> list[dict[str, Any]]:
    with project_session(store, principal, key, "READ") as s:
        return [
            dict(status(o.definition), triggers=o.definition.get("triggers", []))
            for o in list_objects(s, key, "SCENARIO")
        ]


def create_scenario(store: Store, *, principal: Principal, key: str, body: object) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        body = require_dict("scenario", body)
        given = body.get("id")
        if given is None:
            name = check_text("scenario name", body.get("name"), max_length=200, allow_empty=False)
            scenario_id = _new_id(name, {o.name for o in list_objects(s, key, "SCENARIO")})
        else:
            scenario_id = check_name("scenario id", given)
            ensure_absent(s, key, "SCENARIO", scenario_id)
        doc = _scenario_doc(body, key=key, scenario_id=scenario_id, principal=principal, previous=None)
        _check_run_as_exists(s, doc)
        obj = ProjectObject(
            project_key=key,
            kind="SCENARIO",
            name=scenario_id,
            created_on=now_ms(),
            payload="" if doc["type"] == "custom_python" else None,
        )
        _apply(obj, doc)
        s.add(obj)
    return doc


def get_scenario(store: Store, *, principal: Principal, key: str, scenario_id: str) -> dict[str, Any]:
    with project_session(store, principal, key, "READ") as s:
        return get_object(s, key, "SCENARIO", scenario_id).definition


def get_status(store: Store, *, principal: Principal, key: str, scenario_id: str) -> dict[str, Any]:
    return status(get_scenario(store, principal=principal, key=key, scenario_id=scenario_id))


def put_scenario(
    store: Store, *, principal: Principal, key: str, scenario_id: str, body: object
) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        obj = get_object(s, key, "SCENARIO", scenario_id)
        doc = _scenario_doc(
            body, key=key, scenario_id=scenario_id, principal=principal, previous=obj.definition
        )
        if doc.get("runAsUser") != obj.definition.get("runAsUser"):
            _check_run_as_exists(s, doc)
        _apply(obj, doc)
    return doc


def get_payload(store: Store, *, principal: Principal, key: str, scenario_id: str) -> dict[str, Any]:
    with project_session(store, principal, key, "READ") as s:
        obj = get_object(s, key, "SCENARIO", scenario_id)
        return {"script": obj.payload or "", "extension": "py"}


def put_payload(
    store: Store, *, principal: Principal, key: str, scenario_id: str, body: object
) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        script = require_dict("scenario payload", body).get("script")
        if not isinstance(script, str) or len(script) > MAX_SCRIPT:
            raise BadRequest(
                f"Invalid scenario payload: 'script' must be a string of at most {MAX_SCRIPT} characters"
            )
        obj = get_object(s, key, "SCENARIO", scenario_id)
        if obj.type != "custom_python":
            raise BadRequest(
                f"Scenario {scenario_id} is {obj.type}: only custom_python scenarios have a script"
            )
        obj.payload, obj.modified_on = script, now_ms()
    return {"script": script, "extension": "py"}
