"""Users' secrets and per-connection credentials: encrypted at rest, masked in every read.

A user document carries `secrets` (`[{name, value, secret, ...}]`) and `credentials`
(`{connection: {type, user, password, ...}}`). Before storage each secret's value and each
credential field other than a few plain ones (type, user, login) is encrypted with the
instance key (connections/secrets.py) and moved under `encrypted`; every read shows MASK in
its place, and sending MASK back keeps the stored value. Only the user's own keys read the
values, through `GET /auth/info?withSecrets=true` (`revealed`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from labkeeper.connections import secrets as crypto
from labkeeper.errors import BadRequest

MASK = "**********"
ENCRYPTED = "encrypted"  # the stored form: {field: token}, in place of the clear fields
_PLAIN_CREDENTIAL_FIELDS = frozenset({"type", "user", "login", "connection", "authType"})
MAX_SECRETS = 200


def _encrypt(data_dir: Path, value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Invalid {where}: a string is required, got {type(value).__name__}")
    return crypto.encrypt(data_dir, value)


def _seal_secrets(data_dir: Path, sent: list, stored: list) -> list[dict[str, Any]]:
    if len(sent) > MAX_SECRETS:
        raise BadRequest(f"Invalid secrets: at most {MAX_SECRETS}, got {len(sent)}")
    before = {item.get("name"): item for item in stored if isinstance(item, dict)}
    sealed = []
    for item in sent:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest("Invalid secrets: each secret is an object with a string name")
        item = dict(item)
        value = item.pop("value", None)
        item.pop(ENCRYPTED, None)  # a caller never sets the stored form
        old = before.get(item["name"], {})
        if value == MASK or value is None:
            token = (old.get(ENCRYPTED) or {}).get("value")
            if token is None and isinstance(old.get("value"), str):  # stored before encryption
                token = crypto.encrypt(data_dir, old["value"])
        else:
            token = _encrypt(data_dir, value, f"value of secret {item['name']!r}")
        item[ENCRYPTED] = {"value": token or ""}
        sealed.append(item)
    return sealed


def _seal_credential(data_dir: Path, name: str, sent: object, stored: object) -> dict[str, Any]:
    if not isinstance(sent, dict):
        raise BadRequest(f"Invalid credentials of connection {name!r}: a JSON object is required")
    old = stored if isinstance(stored, dict) else {}
    old_tokens = old.get(ENCRYPTED) or {}
    doc: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    for field, value in sent.items():
        if field == ENCRYPTED:
            continue
        if field in _PLAIN_CREDENTIAL_FIELDS or not isinstance(value, str):
            doc[field] = value
        elif value == MASK:
            token = old_tokens.get(field)
            if token is None and isinstance(old.get(field), str):
                token = crypto.encrypt(data_dir, old[field])
            tokens[field] = token or ""
        else:
            tokens[field] = _encrypt(data_dir, value, f"{field} of connection {name!r}")
    doc[ENCRYPTED] = tokens
    return doc


def seal(data_dir: Path, sent: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """`sent` (a user document's extra fields) with its secrets and credentials encrypted;
    `stored` is the user's current extra document (for values sent back masked)."""
    sealed = dict(sent)
    if isinstance(sent.get("secrets"), list):
        sealed["secrets"] = _seal_secrets(data_dir, sent["secrets"], stored.get("secrets") or [])
    if isinstance(sent.get("credentials"), dict):
        before = stored.get("credentials") or {}
        sealed["credentials"] = {
            name: _seal_credential(data_dir, name, value, before.get(name))
            for name, value in sent["credentials"].items()
        }
    return sealed


def masked(extra: dict[str, Any]) -> dict[str, Any]:
    """The user's extra document as every read shows it: no secret value, no credential."""
    shown = dict(extra)
    if isinstance(extra.get("secrets"), list):
        items = []
        for item in extra["secrets"]:
            if isinstance(item, dict):
                item = {k: v for k, v in item.items() if k != ENCRYPTED}
                item["value"] = MASK
            items.append(item)
        shown["secrets"] = items
    if isinstance(extra.get("credentials"), dict):
        creds = {}
        for name, doc in extra["credentials"].items():
            if isinstance(doc, dict):
                fields = {k: v for k, v in doc.items() if k != ENCRYPTED}
                for field, value in fields.items():
                    if field not in _PLAIN_CREDENTIAL_FIELDS and isinstance(value, str):
                        fields[field] = MASK  # stored in clear by an older version
                fields.update({field: MASK for field in doc.get(ENCRYPTED) or {}})
                doc = fields
            creds[name] = doc
        shown["credentials"] = creds
    return shown


def revealed(data_dir: Path, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The user's secrets with their values decrypted (for their owner only)."""
    out = []
    for item in extra.get("secrets") or []:
        if not isinstance(item, dict):
            continue
        shown = {k: v for k, v in copy.deepcopy(item).items() if k != ENCRYPTED}
        token = (item.get(ENCRYPTED) or {}).get("value")
        if token is not None:
            try:
                shown["value"] = crypto.decrypt(data_dir, token)
            except crypto.SecretUnreadable:
                shown["value"] = None
                shown["unreadable"] = True
        out.append(shown)
    return out
