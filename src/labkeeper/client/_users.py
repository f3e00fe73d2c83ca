"""Users and groups: the DSSClient methods and the handles they return."""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

from labkeeper.client._http import Requester, path_segment
from labkeeper.client._time import ms_to_datetime


class DSSUser:
    """A user of the instance, by login. Getting the handle sends nothing."""

    def __init__(self, client: Requester, login: str) -> None:
        self.client = client
        self.login = login

    @property
    def _path(self) -> str:
        return f"/admin/users/{path_segment(self.login)}"

    def get_settings(self) -> DSSUserSettings:
        """Read the user's settings (admin only); change them and call `save()`."""
        return DSSUserSettings(self.client, self.login, self.client._perform_json("GET", self._path))

    def delete(self, allow_self_deletion: bool = False) -> None:
        """Delete the user. Deleting the user of the calling key needs `allow_self_deletion`."""
        self.client._perform_empty("DELETE", self._path, params={"allowSelfDeletion": allow_self_deletion})

    def get_definition(self) -> dict[str, Any]:
        """Deprecated: the user's settings as a plain dict; use `get_settings()`."""
        warnings.warn(
            "DSSUser.get_definition is deprecated, use get_settings()", DeprecationWarning, stacklevel=2
        )
        return self.client._perform_json("GET", self._path)

    def set_definition(self, definition: dict[str, Any]) -> None:
        """Deprecated: replace the user's settings; use `get_settings()` then `save()`."""
        warnings.warn(
            "DSSUser.set_definition is deprecated, use get_settings().save()",
            DeprecationWarning,
            stacklevel=2,
        )
        self.client._perform_empty("PUT", self._path, body=definition)


class DSSUserSettingsBase:
    """The settings document of a user; `get_raw()` is the live dict that `save()` sends."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def get_raw(self) -> dict[str, Any]:
        """The settings dict itself (not a copy): edits to it are saved by `save()`."""
        return self.settings

    @property
    def user_properties(self) -> dict[str, Any]:
        """Properties the user may read and change; edit the dict in place."""
        return self.settings.setdefault("userProperties", {})

    def add_secret(self, name: str, value: str) -> None:
        """Add a user secret, replacing any secret of the same name."""
        self.remove_secret(name)
        self.settings["secrets"].append({"name": name, "value": value, "secret": True})

    def remove_secret(self, name: str) -> None:
        """Remove the user secret of that name, if there is one."""
        secrets = self.settings.get("secrets") or []
        self.settings["secrets"] = [s for s in secrets if s.get("name") != name]

    def set_basic_connection_credential(self, connection: str, login: str, password: str) -> None:
        """Set this user's login and password for a connection with per-user credentials."""
        credentials = self.settings.setdefault("credentials", {})
        credentials[connection] = {"type": "BASIC", "user": login, "password": password}

    def remove_connection_credential(self, connection: str) -> None:
        """Forget this user's credentials for a connection, if any."""
        self.settings.setdefault("credentials", {}).pop(connection, None)


class DSSUserSettings(DSSUserSettingsBase):
    """Settings of a user, as an admin sees them (from `DSSUser.get_settings()`)."""

    def __init__(self, client: Requester, login: str, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.client = client
        self.login = login

    @property
    def admin_properties(self) -> dict[str, Any]:
        """Properties only admins see and change; edit the dict in place."""
        return self.settings.setdefault("adminProperties", {})

    @property
    def enabled(self) -> bool:
        """Whether the user may use the instance (a disabled user's keys stop working)."""
        return self.settings["enabled"]

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.settings["enabled"] = value

    @property
    def creation_date(self) -> datetime | None:
        """When the user was created, or None if the server does not say."""
        return ms_to_datetime(self.settings.get("creationDate"))

    def save(self) -> None:
        """Send the settings back to the server."""
        self.client._perform_empty("PUT", f"/admin/users/{path_segment(self.login)}", body=self.settings)


class DSSOwnUser:
    """The user of the calling API key (from `DSSClient.get_own_user()`)."""

    def __init__(self, client: Requester) -> None:
        self.client = client

    def get_settings(self) -> DSSOwnUserSettings:
        """Read your own settings; change them and call `save()`."""
        return DSSOwnUserSettings(self.client, self.client._perform_json("GET", "/current-user"))


class DSSOwnUserSettings(DSSUserSettingsBase):
    """Your own settings (from `DSSOwnUser.get_settings()`)."""

    def __init__(self, client: Requester, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.client = client

    def save(self) -> None:
        """Send your settings back to the server."""
        self.client._perform_empty("PUT", "/current-user", body=self.settings)


class DSSGroup:
    """A group of the instance, by name. Getting the handle sends nothing."""

    def __init__(self, client: Requester, name: str) -> None:
        self.client = client
        self.name = name

    @property
    def _path(self) -> str:
        return f"/admin/groups/{path_segment(self.name)}"

    def get_definition(self) -> dict[str, Any]:
        """The group's definition: name, description, sourceType, admin and permissions."""
        return self.client._perform_json("GET", self._path)

    def set_definition(self, definition: dict[str, Any]) -> None:
        """Replace the group's definition with one obtained from `get_definition()`."""
        self.client._perform_empty("PUT", self._path, body=definition)

    def delete(self) -> None:
        """Delete the group (its members stay, without it)."""
        self.client._perform_empty("DELETE", self._path)


class UserMethods(Requester):
    """DSSClient methods for users and groups (admin only, except `get_own_user`)."""

    def list_users(self, as_objects: bool = False, include_settings: bool = False) -> list[Any]:
        """Every user, as dicts, or as `DSSUser` handles when `as_objects` is true."""
        users = self._perform_json("GET", "/admin/users/", params={"includeSettings": include_settings})
        if as_objects:
            return [DSSUser(self, user["login"]) for user in users]
        return users

    def get_user(self, login: str) -> DSSUser:
        """A handle on the user with that login (sends nothing)."""
        return DSSUser(self, login)

    def create_user(
        self,
        login: str,
        password: str | None,
        display_name: str = "",
        source_type: str = "LOCAL",
        groups: list[str] | None = None,
        profile: str = "DATA_SCIENTIST",
        email: str | None = None,
    ) -> DSSUser:
        """Create a user and return its handle."""
        self._perform_empty(
            "POST",
            "/admin/users/",
            body={
                "login": login,
                "password": password,
                "displayName": display_name,
                "sourceType": source_type,
                "groups": list(groups or []),
                "userProfile": profile,
                "email": email,
            },
        )
        return DSSUser(self, login)

    def get_own_user(self) -> DSSOwnUser:
        """A handle on the user of the calling API key."""
        return DSSOwnUser(self)

    def list_groups(self) -> list[dict[str, Any]]:
        """Every group, as dicts."""
        return self._perform_json("GET", "/admin/groups/")

    def get_group(self, name: str) -> DSSGroup:
        """A handle on the group with that name (sends nothing)."""
        return DSSGroup(self, name)

    def create_group(self, name: str, description: str | None = None, source_type: str = "LOCAL") -> DSSGroup:
        """Create a group and return its handle."""
        self._perform_empty(
            "POST",
            "/admin/groups/",
            body={"name": name, "description": description, "sourceType": source_type},
        )
        return DSSGroup(self, name)
