"""Stored project objects (datasets, recipes, scenarios): the shared plumbing, and datasets.

Objects are definitions only: labkeeper stores and serves them for the API and the usage
reports; it does not build datasets nor run recipes or scenarios.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict, NotFound
from labkeeper.names import check_name, check_project_key, check_text
from labkeeper.projects.access import Level, get_project_checked
from labkeeper.projects.documents import MAX_DESCRIPTION, check_tags, require_dict
from labkeeper.projects.listing import tag
from labkeeper.projects.models import ProjectObject

KIND_WORDS = {"DATASET": "dataset", "RECIPE": "recipe", "SCENARIO": "scenario"}
_TYPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,59}")


@contextmanager
def project_session(store: Store, principal: Principal, key: str, level: Level) -> Iterator[Session]:
    """A transaction on a project the caller may act on at `level` (read-only for READ)."""
    opener = store.read if level == "READ" else store.begin
    with opener() as s:
        get_project_checked(s, principal, check_project_key(key), level)
        yield s


def check_type(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise BadRequest(
            f"Invalid {KIND_WORDS[kind]} type {value!r}: a non-empty name of at most 60 letters, "
            "digits, '_', '-' or '.' is required"
        )
    return value


def get_object(s: Session, key: str, kind: str, name: str) -> ProjectObject:
    obj = s.get(ProjectObject, (key, kind, name))
    if obj is None:
        raise NotFound(f"{KIND_WORDS[kind].capitalize()} {name!r} does not exist in project {key}")
    return obj


def ensure_absent(s: Session, key: str, kind: str, name: str) -> None:
    if s.get(ProjectObject, (key, kind, name)) is not None:
        raise Conflict(f"{KIND_WORDS[kind].capitalize()} {name!r} already exists in project {key}")


def list_objects(s: Session, key: str, kind: str) -> list[ProjectObject]:
    return list(
        s.scalars(
            select(ProjectObject)
            .where(ProjectObject.project_key == key, ProjectObject.kind == kind)
            .order_by(ProjectObject.name)
        )
    )


def check_identity(kind: str, doc: dict[str, Any], *, key: str, name_field: str, name: str) -> None:
    """A body may repeat the object's project key and name, but not change them."""
    if doc.get("projectKey") not in (None, key):
        raise BadRequest(
            f"Invalid {KIND_WORDS[kind]}: projectKey {doc['projectKey']!r} does not match "
            f"project {key} of the URL"
        )
    if doc.get(name_field) not in (None, name):
        raise BadRequest(
            f"Invalid {KIND_WORDS[kind]}: {name_field} {doc[name_field]!r} does not match {name!r} "
            "of the URL (renaming is not supported)"
        )


def common_fields(
    kind: str, doc: dict[str, Any], *, principal: Principal, previous: dict[str, Any] | None
) -> None:
    """Validate and fill the fields every object document carries (tags, descriptions,
    creation and version tags)."""
    word = KIND_WORDS[kind]
    doc["tags"] = check_tags(f"{word} tags", doc.get("tags"))
    doc["description"] = check_text(f"{word} description", doc.get("description"), max_length=MAX_DESCRIPTION)
    doc["shortDesc"] = check_text(f"{word} shortDesc", doc.get("shortDesc"), max_length=1000)
    doc["customFields"] = require_dict(f"{word} customFields", doc.get("customFields") or {})
    for field in ("checklists", "custom"):
        if doc.get(field) is not None:
            require_dict(f"{word} {field}", doc[field])
    now = now_ms()
    if previous is None:
        doc["creationTag"] = tag(0, principal.name, now)
        doc["versionTag"] = tag(1, principal.name, now)
    else:
        doc["creationTag"] = previous.get("creationTag") or tag(0, principal.name, now)
        version = int(((previous.get("versionTag") or {}).get("versionNumber")) or 0) + 1
        doc["versionTag"] = tag(version, principal.name, now)


def object_metadata(obj: ProjectObject) -> dict[str, Any]:
    d = obj.definition
    return {
        "label": d.get("name") or obj.name,
        "description": d.get("description", ""),
        "shortDesc": d.get("shortDesc", ""),
        "tags": d.get("tags", []),
        "checklists": d.get("checklists") or {"checklists": []},
        "custom": d.get("custom") or {"kv": {}},
        "customFields": d.get("customFields", {}),
    }


def put_object_metadata(obj: ProjectObject, body: object, principal: Principal) -> dict[str, Any]:
    meta = copy.deepcopy(require_dict("metadata", body))
    doc = copy.deepcopy(obj.definition)
    for field in ("description", "shortDesc", "tags", "checklists", "custom", "customFields"):
        if field in meta:
            doc[field] = meta[field]
    common_fields(obj.kind, doc, principal=principal, previous=obj.definition)
    obj.definition = doc
    obj.modified_on = now_ms()
    return object_metadata(obj)


# ---- datasets -------------------------------------------------------------------------


def _dataset_doc(
    body: object, *, key: str, name: str, principal: Principal, previous: dict[str, Any] | None
) -> dict[str, Any]:
    doc = copy.deepcopy(require_dict("dataset", body))
    check_identity("DATASET", doc, key=key, name_field="name", name=name)
    doc["projectKey"], doc["name"] = key, name
    doc["type"] = check_type("DATASET", doc.get("type"))
    doc["params"] = require_dict("dataset params", doc.get("params") or {})
    if doc.get("formatType") is not None and not isinstance(doc["formatType"], str):
        raise BadRequest("Invalid dataset formatType: a string or null is required")
    doc["formatParams"] = require_dict("dataset formatParams", doc.get("formatParams") or {})
    schema = require_dict("dataset schema", doc.get("schema") or {"columns": [], "userModified": False})
    if not isinstance(schema.setdefault("columns", []), list):
        raise BadRequest("Invalid dataset schema.columns: a list of columns is required")
    doc["schema"] = schema
    partitioning = require_dict("dataset partitioning", doc.get("partitioning") or {"dimensions": []})
    if not isinstance(partitioning.setdefault("dimensions", []), list):
        raise BadRequest("Invalid dataset partitioning.dimensions: a list is required")
    doc["partitioning"] = partitioning
    for flag in ("managed", "featureGroup"):
        if not isinstance(doc.setdefault(flag, False), bool):
            raise BadRequest(f"Invalid dataset {flag}: true or false is required")
    common_fields("DATASET", doc, principal=principal, previous=previous)
    return doc


def list_datasets(store: Store, *, principal: Principal, key: str, tags: list[str]) -> list[dict[str, Any]]:
    with project_session(store, principal, key, "READ") as s:
        docs = [o.definition for o in list_objects(s, key, "DATASET")]
    if tags:
        wanted = set(tags)
        docs = [d for d in docs if wanted.intersection(d.get("tags") or [])]
    return docs


def create_dataset(store: Store, *, principal: Principal, key: str, body: object) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        name = check_name("dataset name", require_dict("dataset", body).get("name"))
        doc = _dataset_doc(body, key=key, name=name, principal=principal, previous=None)
        ensure_absent(s, key, "DATASET", name)
        now = now_ms()
        s.add(
            ProjectObject(
                project_key=key,
                kind="DATASET",
                name=name,
                type=doc["type"],
                definition=doc,
                created_on=now,
                modified_on=now,
            )
        )
    return doc


def get_dataset(store: Store, *, principal: Principal, key: str, name: str) -> dict[str, Any]:
    with project_session(store, principal, key, "READ") as s:
        return get_object(s, key, "DATASET", name).definition


def put_dataset(store: Store, *, principal: Principal, key: str, name: str, body: object) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        obj = get_object(s, key, "DATASET", name)
        doc = _dataset_doc(body, key=key, name=name, principal=principal, previous=obj.definition)
        obj.definition, obj.type, obj.modified_on = doc, doc["type"], now_ms()
    return doc


def _check_schema(body: object) -> dict[str, Any]:
    schema = copy.deepcopy(require_dict("dataset schema", body))
    if not isinstance(schema.get("columns"), list):
        raise BadRequest("Invalid dataset schema: a 'columns' list is required")
    for index, column in enumerate(schema["columns"]):
        column = require_dict(f"schema column {index}", column)
        check_text(f"schema column {index} name", column.get("name"), max_length=1000, allow_empty=False)
        check_text(f"schema column {index} type", column.get("type"), max_length=60, allow_empty=False)
    return schema


def put_dataset_schema(
    store: Store, *, principal: Principal, key: str, name: str, body: object
) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        schema = _check_schema(body)
        obj = get_object(s, key, "DATASET", name)
        doc = copy.deepcopy(obj.definition)
        doc["schema"] = schema
        common_fields("DATASET", doc, principal=principal, previous=obj.definition)
        obj.definition, obj.modified_on = doc, now_ms()
    return schema


def delete_object(store: Store, *, principal: Principal, key: str, kind: str, name: str) -> None:
    with project_session(store, principal, key, "WRITE") as s:
        s.delete(get_object(s, key, kind, name))


def get_metadata(store: Store, *, principal: Principal, key: str, kind: str, name: str) -> dict[str, Any]:
    with project_session(store, principal, key, "READ") as s:
        return object_metadata(get_object(s, key, kind, name))


def put_metadata(
    store: Store, *, principal: Principal, key: str, kind: str, name: str, body: object
) -> dict[str, Any]:
    with project_session(store, principal, key, "WRITE") as s:
        return put_object_metadata(get_object(s, key, kind, name), body, principal)
