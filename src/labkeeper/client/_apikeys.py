"""Global and personal API keys: the DSSClient methods and the handles they return.

The secret of a key (`key`) is shown in full only by the call that creates it; lists and
definitions show a masked form. Handles address keys by id.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any, Literal

from labkeeper.client._exceptions import DataikuException
from labkeeper.client._http import Requester, path_segment
from labkeeper.client._time import ms_to_datetime

ListAs = Literal["listitems", "objects"]
CreatedAs = Literal["dict", "object"]


def _checked_creation(answer: Any, what: str) -> dict[str, Any]:
    """A creation answer must be an object with an id; anything else is a server fault."""
    if not isinstance(answer, dict):
        raise DataikuException(f"{what} creation returned no data")
    messages = answer.get("messages")
    if isinstance(messages, dict) and messages.get("error"):
        raise DataikuException(f"{what} creation failed: {messages.get('messages')}")
    if not answer.get("id"):
        raise DataikuException(f"{what} creation returned no key id")
    return answer


class _KeyHandle:
    """What global and personal key handles share: an id, a route, update and delete."""

    _base = ""

    def __init__(self, client: Requester, key: str, id_: str) -> None:
        self.client = client
        self.key = key
        self.id_ = id_

    @property
    def id(self) -> str:
        """The key's id (the same as `id_`)."""
        return self.id_

    @property
    def _path(self) -> str:
        return f"{self._base}{path_segment(self.id_)}"

    def set_definition(self, definition: dict[str, Any]) -> None:
        """Replace the key's definition with one obtained from `get_definition()` (for a
        personal key only the label and description change)."""
        self.client._perform_empty("PUT", self._path, body=dict(definition))

    def delete(self) -> None:
        """Revoke and delete the key: it stops working at once."""
        self.client._perform_empty("DELETE", self._path)


class DSSGlobalApiKey(_KeyHandle):
    """A global API key, by id (`id_`); `key` is its secret when known, else masked or ''."""

    _base = "/admin/global-api-keys/"

    def get_definition(self) -> DSSGlobalApiKeyDefinition:
        """Read the key's definition (admin only)."""
        return DSSGlobalApiKeyDefinition(self.client, self.client._perform_json("GET", self._path))


class DSSGlobalApiKeyDefinition(dict[str, Any]):
    """The definition of a global API key, as a dict with typed accessors and `save()`."""

    def __init__(self, client: Requester, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.client = client

    @property
    def id(self) -> str:
        return self["id"]

    @property
    def label(self) -> str:
        return self["label"]

    @label.setter
    def label(self, value: str) -> None:
        self["label"] = value

    @property
    def description(self) -> str | None:
        return self.get("description")

    @description.setter
    def description(self, value: str | None) -> None:
        self["description"] = value

    @property
    def user_for_impersonation(self) -> str | None:
        """The user whose identity the key acts with, if any."""
        return self.get("dssUserForImpersonation")

    @user_for_impersonation.setter
    def user_for_impersonation(self, value: str | None) -> None:
        self["dssUserForImpersonation"] = value

    @property
    def groups(self) -> list[str] | None:
        """The groups whose permissions the key has, or None for an admin/non-admin key."""
        return self.get("groups")

    @groups.setter
    def groups(self, value: list[str] | None) -> None:
        self["groups"] = value

    @property
    def created_on(self) -> datetime | None:
        return ms_to_datetime(self["createdOn"])

    @property
    def created_by(self) -> str | None:
        return self.get("createdBy")

    @property
    def expires_on(self) -> datetime | None:
        """When the key stops working, or None if it never expires."""
        return ms_to_datetime(self.get("expiresOn"))

    @property
    def lifetime(self) -> Any:
        """The key's lifetime in days (`expiry`)."""
        return self.get("expiry")

    @lifetime.setter
    def lifetime(self, value: Any) -> None:
        self["expiry"] = value

    def save(self) -> None:
        """Write the definition back."""
        self.client._perform_empty("PUT", f"/admin/global-api-keys/{path_segment(self.id)}", body=dict(self))


class DSSGlobalApiKeyListItem(dict[str, Any]):
    """One global API key of `list_global_api_keys()`, as a dict with typed accessors."""

    def __init__(self, client: Requester, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.client = client

    def to_global_api_key(self) -> DSSGlobalApiKey:
        """A handle on this key."""
        return DSSGlobalApiKey(self.client, self["key"], self["id"])

    @property
    def id(self) -> str:
        return self["id"]

    @property
    def user_for_impersonation(self) -> str | None:
        return self.get("dssUserForImpersonation")

    @property
    def key(self) -> str:
        """The key's secret as listed (masked: only creation shows it in full)."""
        return self["key"]

    @property
    def label(self) -> str:
        return self["label"]

    @property
    def description(self) -> str | None:
        return self.get("description")

    @property
    def created_on(self) -> datetime | None:
        return ms_to_datetime(self["createdOn"])

    @property
    def created_by(self) -> str | None:
        return self.get("createdBy")

    @property
    def groups(self) -> list[str] | None:
        return self.get("groups")


class DSSPersonalApiKey(_KeyHandle):
    """A personal API key, by id (`id_`); it acts as its user."""

    _base = "/personal-api-keys/"

    def get_definition(self) -> dict[str, Any]:
        """The key's definition; its owner's login is in `user`."""
        return self.client._perform_json("GET", self._path)


class DSSPersonalApiKeyListItem(dict[str, Any]):
    """One personal API key of a list, as a dict with typed accessors."""

    def __init__(self, client: Requester, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.client = client

    def to_personal_api_key(self) -> DSSPersonalApiKey:
        """A handle on this key."""
        return DSSPersonalApiKey(self.client, self.get("key", ""), self["id"])

    @property
    def id(self) -> str:
        return self["id"]

    @property
    def user(self) -> str:
        return self["user"]

    @property
    def key(self) -> str:
        return self["key"]

    @property
    def label(self) -> str:
        return self["label"]

    @property
    def description(self) -> str:
        return self["description"]

    @property
    def created_on(self) -> datetime | None:
        return ms_to_datetime(self["createdOn"])

    @property
    def created_by(self) -> str:
        return self["createdBy"]


def _check_list_as(as_type: str) -> None:
    if as_type not in ("listitems", "objects"):
        raise ValueError(f"Unknown as_type {as_type!r}: use 'listitems' or 'objects'")


class ApiKeyMethods(Requester):
    """DSSClient methods for global keys (admin only) and personal keys."""

    def list_global_api_keys(self, as_type: ListAs = "listitems") -> list[Any]:
        """Every global key, as `DSSGlobalApiKeyListItem` or, with 'objects', `DSSGlobalApiKey`."""
        _check_list_as(as_type)
        items = self._perform_json("GET", "/admin/global-api-keys/")
        if as_type == "objects":
            return [DSSGlobalApiKey(self, item["key"], item["id"]) for item in items]
        return [DSSGlobalApiKeyListItem(self, item) for item in items]

    def get_global_api_key_by_id(self, id_: str) -> DSSGlobalApiKey:
        """A handle on the global key with that id (checks that it exists)."""
        answer = self._perform_json("GET", f"/admin/global-api-keys/{path_segment(id_)}")
        return DSSGlobalApiKey(self, answer["key"], id_)

    def get_global_api_key(self, key: str) -> DSSGlobalApiKey:
        """Deprecated: find a global key by its secret; use `get_global_api_key_by_id`."""
        warnings.warn(
            "get_global_api_key is deprecated, use get_global_api_key_by_id", DeprecationWarning, stacklevel=2
        )
        answer = self._perform_json("GET", f"/admin/globalAPIKeys/{path_segment(key)}")
        return DSSGlobalApiKey(self, key, answer["id"])

    def _create_global_api_key(self, body: dict[str, Any]) -> DSSGlobalApiKey:
        answer = _checked_creation(
            self._perform_json("POST", "/admin/global-api-keys/", body=body), "API key"
        )
        return DSSGlobalApiKey(self, answer.get("key", ""), answer["id"])

    def create_global_api_key(
        self, label: str | None = None, description: str | None = None, admin: bool = False
    ) -> DSSGlobalApiKey:
        """Create a global key, admin or not; the handle's `key` is the full secret."""
        return self._create_global_api_key(
            {"label": label, "description": description, "globalPermissions": {"admin": admin}}
        )

    def create_global_api_key_with_groups(
        self, label: str | None = None, description: str | None = None, groups: list[str] | None = None
    ) -> DSSGlobalApiKey:
        """Create a global key with the permissions of `groups`; `key` is the full secret."""
        return self._create_global_api_key(
            {"label": label, "description": description, "groups": list(groups or [])}
        )

    def list_personal_api_keys(self, as_type: ListAs = "listitems") -> list[Any]:
        """Your own personal keys."""
        _check_list_as(as_type)
        return self._personal_keys(self._perform_json("GET", "/personal-api-keys/"), as_type)

    def list_all_personal_api_keys(self, as_type: ListAs = "listitems") -> list[Any]:
        """Every user's personal keys (admin only)."""
        _check_list_as(as_type)
        return self._personal_keys(self._perform_json("GET", "/admin/personal-api-keys/"), as_type)

    def _personal_keys(self, items: list[dict[str, Any]], as_type: str) -> list[Any]:
        if as_type == "objects":
            return [DSSPersonalApiKey(self, item.get("key", ""), item["id"]) for item in items]
        return [DSSPersonalApiKeyListItem(self, item) for item in items]

    def get_personal_api_key(self, id: str) -> DSSPersonalApiKey:
        """A handle on one of your personal keys (sends nothing)."""
        return DSSPersonalApiKey(self, "", id)

    def create_personal_api_key(
        self, label: str = "", description: str = "", as_type: CreatedAs = "dict"
    ) -> dict[str, Any] | DSSPersonalApiKey:
        """Create a personal key for yourself: its definition with the full secret in `key`,
        or a handle with 'object'."""
        answer = self._perform_json(
            "POST", "/personal-api-keys/", body={"label": label, "description": description}
        )
        return self._created_personal_key(answer, as_type)

    def create_personal_api_key_for_user(
        self, user: str, label: str = "", description: str = "", as_type: CreatedAs = "object"
    ) -> dict[str, Any] | DSSPersonalApiKey:
        """Create a personal key for another user (admin only)."""
        answer = self._perform_json(
            "POST",
            "/admin/personal-api-keys/",
            body={"user": user, "label": label, "description": description},
        )
        return self._created_personal_key(answer, as_type)

    def _created_personal_key(self, answer: Any, as_type: str) -> dict[str, Any] | DSSPersonalApiKey:
        created = _checked_creation(answer, "API key")
        if as_type == "object":
            return DSSPersonalApiKey(self, created.get("key", ""), created["id"])
        return created
