"""A project's tag definitions (`GET/PUT /projects/{key}/tags`): `{"tags": {name: {color, ...}}}`.

The definitions are kept in the metadata document (`tagDefinitions`); a tag the metadata
lists without a definition is shown with an empty one.
"""

from __future__ import annotations

from typing import Any

from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest
from labkeeper.names import check_project_key, check_text
from labkeeper.projects.access import get_project_checked
from labkeeper.projects.documents import MAX_TAGS, require_dict

MAX_DEFINITION_FIELDS = 20


def get_tags(store: Store, *, principal: Principal, key: str) -> dict[str, Any]:
    with store.read() as s:
        meta = get_project_checked(s, principal, check_project_key(key), "READ").metadata_doc or {}
    definitions = dict(meta.get("tagDefinitions") or {})
    for tag in meta.get("tags") or []:
        definitions.setdefault(tag, {})
    return {"tags": definitions}


def check_tags_document(body: object) -> dict[str, dict[str, Any]]:
    doc = require_dict("tags document", body)
    tags = require_dict("tags document's tags", doc.get("tags", {}))
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Invalid tags: at most {MAX_TAGS} tags, got {len(tags)}")
    checked: dict[str, dict[str, Any]] = {}
    for name, definition in tags.items():
        check_text("tag name", name, max_length=200, allow_empty=False)
        definition = require_dict(f"definition of tag {name!r}", definition if definition is not None else {})
        if len(definition) > MAX_DEFINITION_FIELDS:
            raise BadRequest(f"Invalid definition of tag {name!r}: at most {MAX_DEFINITION_FIELDS} fields")
        if "color" in definition:
            check_text(f"color of tag {name!r}", definition["color"], max_length=32)
        for field, value in definition.items():
            if isinstance(value, dict | list):
                raise BadRequest(f"Invalid definition of tag {name!r}: {field} must be a plain value")
            if isinstance(value, str):
                check_text(f"{field} of tag {name!r}", value, max_length=1000)
        checked[name] = definition
    return checked


def put_tags(store: Store, *, principal: Principal, key: str, body: object) -> None:
    with store.begin() as s:
        project = get_project_checked(s, principal, check_project_key(key), "WRITE")
        definitions = check_tags_document(body)
        project.metadata_doc = {**(project.metadata_doc or {}), "tagDefinitions": definitions}
        project.version += 1
        project.modified_on = now_ms()
        project.modified_by = principal.name
