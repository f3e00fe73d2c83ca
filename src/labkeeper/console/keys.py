"""API keys seen from the console: the viewer's personal keys (and, for admins, global keys),
through auth/key_service.py exactly as the API's key routes call it."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from labkeeper.auth import key_service
from labkeeper.auth.principal import Principal
from labkeeper.db import Store


def listing(store: Store, principal: Principal) -> dict[str, Any]:
    personal = key_service.list_personal_keys(store, caller=principal, limit=None, offset=0)
    global_keys = key_service.list_global_keys(store, limit=None, offset=0) if principal.admin else []
    return {
        "personal": personal,
        "global_keys": global_keys,
        "max_days": key_service.max_lifetime_days(store),
    }


def _body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {"label": form.get("label", ""), "description": form.get("description", "")}
    expiry = form.get("expiry", "").strip()
    if expiry:
        body["expiry"] = expiry  # whole days, checked by the key schema like the API's
    return body


def create_personal(store: Store, principal: Principal, form: FormData) -> dict[str, Any]:
    """The new key, its secret included: shown once, never stored in clear."""
    key_service.refuse_session_keys(principal)
    return key_service.create_personal_key(store, _body(form), caller=principal)


def create_global(store: Store, principal: Principal, form: FormData) -> dict[str, Any]:
    principal.require_admin()
    key_service.refuse_session_keys(principal)
    body = _body(form)
    body["globalPermissions"] = {"admin": form.get("admin") == "on"}
    return key_service.create_global_key(store, body, creator=principal)


def relabel(store: Store, principal: Principal, key_id: str, form: FormData) -> None:
    key_service.refuse_session_keys(principal)
    key_service.update_personal_key(store, key_id, {"label": form.get("label", "")}, caller=principal)


def revoke(store: Store, principal: Principal, key_id: str, kind: str) -> None:
    key_service.refuse_session_keys(principal)
    if kind == "global":
        principal.require_admin()
        key_service.delete_global_key(store, key_id)
    else:
        key_service.delete_personal_key(store, key_id, caller=principal)
