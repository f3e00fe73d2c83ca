"""General settings and instance variables: stored as whole documents, validated first."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.orm import Session

from labkeeper.db import Store, now_ms
from labkeeper.db.stamps import SETTINGS, Stamps
from labkeeper.errors import BadRequest
from labkeeper.settings.defaults import default_general_settings, with_defaults
from labkeeper.settings.models import Document
from labkeeper.settings.validation import validate_general_settings

GENERAL = "general-settings"
VARIABLES = "instance-variables"


def _load(s: Session, name: str) -> dict[str, Any] | None:
    doc = s.get(Document, name)
    return None if doc is None else doc.body


def _save(s: Session, name: str, body: dict[str, Any]) -> None:
    doc = s.get(Document, name, with_for_update=True)
    if doc is None:
        s.add(Document(name=name, body=body, version=1, updated_on=now_ms()))
    else:
        doc.body = body
        doc.version += 1
        doc.updated_on = now_ms()


def general_settings_json(store: Store, stamps: Stamps | None = None) -> bytes:
    """The complete settings document, serialized. Read on every settings GET and by every
    service that consults a setting, so it is rebuilt only when the `settings` change stamp
    moves; `stamps` as read at the start of the request, if they were."""
    stamp = (stamps if stamps is not None else store.stamps()).get(SETTINGS, 0)
    cached = store.cache.get(GENERAL)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with store.read() as s:
        stored = _load(s, GENERAL)
    encoded = orjson.dumps(default_general_settings() if stored is None else with_defaults(stored))
    store.cache[GENERAL] = (stamp, encoded)
    return encoded


def get_general_settings(store: Store) -> dict[str, Any]:
    """A fresh copy of the settings document, the caller's to change."""
    return orjson.loads(general_settings_json(store))


def put_general_settings(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    merged = with_defaults(body)
    validate_general_settings(merged)
    with store.begin() as s:
        _save(s, GENERAL, merged)
    return merged


def get_instance_variables(store: Store) -> dict[str, Any]:
    with store.read() as s:
        return _load(s, VARIABLES) or {}


def put_instance_variables(store: Store, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Instance variables must be a JSON object mapping names to values")
    with store.begin() as s:
        _save(s, VARIABLES, body)
    return body
