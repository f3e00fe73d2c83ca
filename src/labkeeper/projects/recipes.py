"""Recipes: stored definitions plus their payload (code, or the JSON of a visual recipe).

A recipe's document is `{"recipe": {...}, "payload": "..."}` as the API exchanges it; the
"recipe" part is stored as the definition and the payload beside it. Code recipes in a
language with code envs carry `params.envSelection {envMode, envName}`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest
from labkeeper.names import MAX_NAME_LENGTH, check_name
from labkeeper.projects.documents import ENV_MODES, require_dict
from labkeeper.projects.models import ProjectObject
from labkeeper.projects.objects import (
    check_identity,
    check_type,
    common_fields,
    ensure_absent,
    get_object,
    list_objects,
    project_session,
)

# Code recipe types that run in a code env, and the env language they use.
ENV_LANG_OF_TYPE = {"python": "PYTHON", "pyspark": "PYTHON", "cpython": "PYTHON", "r": "R", "sparkr": "R"}
CODE_TYPES = set(ENV_LANG_OF_TYPE) | {
    "sql_script",
    "sql_query",
    "shell",
    "spark_scala",
    "spark_sql_query",
    "ksql",
    "streaming_spark_scala",
    "hive",
    "impala",
}
MAX_PAYLOAD = 4 * 1024 * 1024


def _check_roles(where: str, value: object) -> dict[str, Any]:
    roles = require_dict(f"recipe {where}", value if value is not None else {})
    for role, content in roles.items():
        content = require_dict(f"recipe {where}.{role}", content)
        items = content.setdefault("items", [])
        if not isinstance(items, list):
            raise BadRequest(f"Invalid recipe {where}.{role}.items: a list is required")
        for index, item in enumerate(items):
            ref = require_dict(f"recipe {where}.{role}.items[{index}]", item).get("ref")
            if not isinstance(ref, str) or not ref:
                raise BadRequest(
                    f"Invalid recipe {where}.{role}.items[{index}].ref: a non-empty string is required"
                )
    return roles


def _check_env_selection(selection: object) -> dict[str, Any]:
    selection = require_dict("recipe params.envSelection", selection)
    mode = selection.get("envMode")
    if mode not in ENV_MODES:
        raise BadRequest(
            f"Invalid recipe params.envSelection.envMode {mode!r}: use one of {', '.join(ENV_MODES)}"
        )
    if mode == "EXPLICIT_ENV":
        check_name("recipe params.envSelection.envName (code env name)", selection.get("envName"))
    return selection


def _recipe_doc(
    body: object, *, key: str, name: str, principal: Principal, previous: dict[str, Any] | None
) -> dict[str, Any]:
    doc = copy.deepcopy(require_dict("recipe", body))
    check_identity("RECIPE", doc, key=key, name_field="name", name=name)
    doc["projectKey"], doc["name"] = key, name
    doc["type"] = check_type("RECIPE", doc.get("type"))
    doc["inputs"] = _check_roles("inputs", doc.get("inputs"))
    doc["outputs"] = _check_roles("outputs", doc.get("outputs"))
    params = doc["params"] = require_dict("recipe params", doc.get("params") or {})
    if doc["type"] in ENV_LANG_OF_TYPE:
        params["envSelection"] = _check_env_selection(params.get("envSelection") or {"envMode": "INHERIT"})
    common_fields("RECIPE", doc, principal=principal, previous=previous)
    return doc


def _check_payload(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Invalid recipe payload: a string is required, got {type(value).__name__}")
    if len(value) > MAX_PAYLOAD:
        raise BadRequest(f"Invalid recipe payload: at most {MAX_PAYLOAD} characters")
    return value


def _apply(obj: ProjectObject, doc: dict[str, Any]) -> None:
    obj.definition, obj.type, obj.modified_on = doc, doc["type"], now_ms()
    selection = doc["params"].get("envSelection") or {}
    explicit = doc["type"] in ENV_LANG_OF_TYPE and selection.get("envMode") == "EXPLICIT_ENV"
    obj.env_lang = ENV_LANG_OF_TYPE[doc["type"]] if explicit else None
    obj.env_name = selection.get("envName") if explicit else None


def _default_name(proto: dict[str, Any], taken: set[str]) -> str:
    outputs = [
        item.get("ref")
        for role in (proto.get("outputs") or {}).values()
        if isinstance(role, dict)
        for item in role.get("items") or []
        if isinstance(item, dict)
    ]
    first = next((ref for ref in outputs if isinstance(ref, str) and ref), None)
    base = f"compute_{first}" if first else f"{proto.get('type') or 'recipe'}_recipe"
    base = re.sub(r"[^A-Za-z0-9_]", "_", base)[: MAX_NAME_LENGTH - 6]
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def list_recipes(store: Store, *, principal: Principal, key: str) -> list[dict[str, Any]]:
    with project_session(store, principal, key, "READ") as s:
        return [o.definition for o in list_objects(s, key, "RECIPE")]


def create_recipe(store: Store, *, principal: Principal, key: str, body: object) -> dict[str, Any]:
    """Create from `{recipePrototype, creationSettings}`; the code comes from
    creationSettings.script (or rawPayload). Outputs are referenced, not created."""
    with project_session(store, principal, key, "WRITE") as s:
        body = require_dict("recipe creation", body)
        proto = require_dict("recipePrototype", body.get("recipePrototype"))
        settings = require_dict("creationSettings", body.get("creationSettings") or {})
        script = settings.get("script")
        payload = _check_payload(script if script is not None else settings.get("rawPayload"))
        if payload is None:
            payload = "" if proto.get("type") in CODE_TYPES else "{}"
        name = proto.get("name")
        if name in (None, ""):
            name = _default_name(proto, {o.name for o in list_objects(s, key, "RECIPE")})
        name = check_name("recipe name", name)
        doc = _recipe_doc(proto, key=key, name=name, principal=principal, previous=None)
        ensure_absent(s, key, "RECIPE", name)
        obj = ProjectObject(project_key=key, kind="RECIPE", name=name, payload=payload, created_on=now_ms())
        _apply(obj, doc)
        s.add(obj)
    return {"projectKey": key, "name": name}


def get_recipe(store: Store, *, principal: Principal, key: str, name: str) -> dict[str, Any]:
    with project_session(store, principal, key, "READ") as s:
        obj = get_object(s, key, "RECIPE", name)
        return {"recipe": obj.definition, "payload": obj.payload}


def put_recipe(store: Store, *, principal: Principal, key: str, name: str, body: object) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        body = require_dict("recipe", body)
        if "recipe" not in body:
            raise BadRequest("Invalid recipe: send the document read from GET, with its 'recipe' object")
        payload = _check_payload(body.get("payload"))
        obj = get_object(s, key, "RECIPE", name)
        doc = _recipe_doc(body["recipe"], key=key, name=name, principal=principal, previous=obj.definition)
        _apply(obj, doc)
        if "payload" in body and payload is not None:
            obj.payload = payload
        return {"recipe": obj.definition, "payload": obj.payload}
