"""Connections: the `DSSClient` methods (`ConnectionMethods`), the connection handle, its
settings and the information its users may read. Passwords never come back from the
server: `params.password` reads as a mask, and saving the mask keeps the stored password."""

from __future__ import annotations

import warnings
from typing import Any

from labkeeper.client._http import Requester, path_segment


def _admin_path(name: str) -> str:
    return f"/admin/connections/{path_segment(name)}"


class DSSConnectionListItem(dict):
    """One entry of `DSSClient.list_connections()`: the connection's settings as a dict."""

    def __init__(self, client: Requester, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.client = client

    def to_connection(self) -> DSSConnection:
        return DSSConnection(self.client, self.name)

    @property
    def name(self) -> str:
        return self["name"] if "name" in self else self["id"]

    @property
    def type(self) -> str:
        """SQLite or PostgreSQL."""
        return self["type"] if "type" in self else self["label"]


class DSSConnectionInfo(dict):
    """What a user of a connection may read about it (never its credentials on labkeeper)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)

    def get_type(self) -> str:
        return self["type"]

    def get_credential_mode(self) -> str:
        return self["credentialsMode"]

    def get_params(self) -> dict[str, Any]:
        return self["params"]

    def get_resolved_params(self) -> dict[str, Any]:
        return self["resolvedParams"]

    def _credential(self, key: str, kind: str) -> dict[str, Any]:
        if key not in self:
            raise ValueError(f"No {kind} credential available")
        return self[key]

    def get_basic_credential(self) -> dict[str, Any]:
        """labkeeper never hands out passwords: this raises ValueError."""
        return self._credential("resolvedBasicCredential", "basic")

    def get_aws_credential(self) -> dict[str, Any]:
        return self._credential("resolvedAWSCredential", "AWS")

    def get_oauth2_credential(self) -> dict[str, Any]:
        return self._credential("resolvedOAuth2Credential", "OAUTH2")


class DSSConnectionDetailsReadability:
    """Who may read the connection's details: `readableBy` NONE, ALL or ALLOWED."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def readable_by(self) -> str:
        return self._data["readableBy"]

    @property
    def allowed_groups(self) -> list[str]:
        return self._data["allowedGroups"]

    def set_readability(self, all: bool, *groups: str) -> None:  # noqa: A002 - the official name
        """Everybody (`all=True`), nobody (no group), or the listed groups."""
        if all:
            self._data["readableBy"] = "ALL"
        elif not groups:
            self._data["readableBy"] = "NONE"
        else:
            self._data["readableBy"] = "ALLOWED"
            self._data["allowedGroups"] = list(groups)


class DSSConnectionSettings:
    """A connection's settings; `get_raw()` is the live dict that `save()` sends."""

    def __init__(self, connection: DSSConnection, settings: dict[str, Any]) -> None:
        self.connection = connection
        self.settings = settings

    def get_raw(self) -> dict[str, Any]:
        return self.settings

    @property
    def type(self) -> str:
        return self.settings["type"]

    @property
    def allow_managed_datasets(self) -> bool:
        return self.settings["allowManagedDatasets"]

    @allow_managed_datasets.setter
    def allow_managed_datasets(self, new_value: bool) -> None:
        self.settings["allowManagedDatasets"] = new_value

    @property
    def allow_managed_folders(self) -> bool:
        return self.settings["allowManagedFolders"]

    @allow_managed_folders.setter
    def allow_managed_folders(self, new_value: bool) -> None:
        self.settings["allowManagedFolders"] = new_value

    @property
    def allow_knowledge_banks(self) -> bool:
        return self.settings["allowKnowledgeBanks"]

    @allow_knowledge_banks.setter
    def allow_knowledge_banks(self, new_value: bool) -> None:
        self.settings["allowKnowledgeBanks"] = new_value

    @property
    def allow_write(self) -> bool:
        return self.settings["allowWrite"]

    @allow_write.setter
    def allow_write(self, new_value: bool) -> None:
        self.settings["allowWrite"] = new_value

    @property
    def details_readability(self) -> DSSConnectionDetailsReadability:
        return DSSConnectionDetailsReadability(self.settings["detailsReadability"])

    @property
    def usable_by(self) -> str:
        """ALL, or ALLOWED (only members of `usable_by_allowed_groups`)."""
        return self.settings["usableBy"]

    @property
    def usable_by_allowed_groups(self) -> list[str]:
        return self.settings["allowedGroups"]

    def set_usability(self, all: bool, *groups: str) -> None:  # noqa: A002 - the official name
        """Usable by everybody (`all=True`) or by members of the listed groups only."""
        if all:
            self.settings["usableBy"] = "ALL"
        else:
            self.settings["usableBy"] = "ALLOWED"
            self.settings["allowedGroups"] = list(groups)

    def save(self) -> None:
        self.connection.client._perform_json("PUT", _admin_path(self.connection.name), body=self.settings)


class DSSConnection:
    """A connection, by name. Getting the handle sends nothing."""

    def __init__(self, client: Requester, name: str) -> None:
        self.client = client
        self.name = name

    def get_location_info(self) -> DSSConnectionInfo:
        """Deprecated spelling of `get_info()`."""
        warnings.warn(
            "DSSConnection.get_location_info is deprecated, use get_info", DeprecationWarning, stacklevel=2
        )
        return self.get_info()

    def get_info(self, contextual_project_key: str | None = None) -> DSSConnectionInfo:
        """Type and params (password masked), for any user allowed to use the connection."""
        params = (
            {"contextualProjectKey": contextual_project_key} if contextual_project_key is not None else None
        )
        return DSSConnectionInfo(
            self.client._perform_json("GET", f"/connections/{path_segment(self.name)}/info", params=params)
        )

    def delete(self) -> None:
        self.client._perform_empty("DELETE", _admin_path(self.name))

    def get_settings(self) -> DSSConnectionSettings:
        return DSSConnectionSettings(self, self.client._perform_json("GET", _admin_path(self.name)))

    def get_definition(self) -> dict[str, Any]:
        """Deprecated: the raw settings; prefer `get_settings()`."""
        return self.client._perform_json("GET", _admin_path(self.name))

    def set_definition(self, definition: dict[str, Any]) -> Any:
        """Deprecated: replace the settings with a changed `get_definition()`."""
        return self.client._perform_json("PUT", _admin_path(self.name), body=definition)

    def test(self) -> dict[str, Any]:
        """Open the connection and run `SELECT 1`: `{connectionOK, errorMessage?}`."""
        return self.client._perform_json("GET", f"/connections/{path_segment(self.name)}/test")


class ConnectionMethods(Requester):
    """DSSClient methods for connections."""

    def list_connections(self, as_type: str = "dictitems") -> Any:
        """Every connection (admin): a dict by name (`dictitems`), a list (`listitems`), or
        handles (`objects`)."""
        items = self._perform_json("GET", "/admin/connections/")
        if as_type in ("dictitems", "dictitem"):
            return {name: DSSConnectionListItem(self, item) for name, item in items.items()}
        if as_type in ("listitems", "listitem"):
            return [DSSConnectionListItem(self, item) for item in items.values()]
        if as_type in ("objects", "object"):
            return [DSSConnection(self, name) for name in items]
        raise ValueError("Unknown as_type: use 'dictitems', 'listitems' or 'objects'")

    def list_connections_names(self, connection_type: str) -> list[str]:
        """Names of the connections the caller may use, of one type (or 'all')."""
        return self._perform_json("GET", "/connections/get-names", params={"type": connection_type})

    def get_connection(self, name: str) -> DSSConnection:
        return DSSConnection(self, name)

    def create_connection(
        self,
        name: str,
        type: str,  # noqa: A002 - the official name
        params: dict[str, Any] | None = None,
        usable_by: str = "ALL",
        allowed_groups: list[str] | None = None,
        description: str | None = None,
    ) -> DSSConnection:
        """Create a SQLite (`params.path`, relative to the instance's sql folder) or
        PostgreSQL (`host`, `port`, `db`, `user`, `password`, `properties`) connection."""
        self._perform_text(
            "POST",
            "/admin/connections/",
            body={
                "name": name,
                "description": description,
                "type": type,
                "params": params or {},
                "usableBy": usable_by,
                "allowedGroups": list(allowed_groups or []),
            },
        )
        return DSSConnection(self, name)
