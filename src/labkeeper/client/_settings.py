"""General settings, impersonation rules, instance variables and the impersonation resolver."""

from __future__ import annotations

import warnings
from typing import Any

from labkeeper.client._http import Requester, path_segment


class DSSUserImpersonationRule:
    """A user impersonation rule, built by chaining: `DSSUserImpersonationRule().scope_project(
    "P").user_single("alice", "u_alice")`. `raw` is the rule dict as stored in the settings."""

    def __init__(self, raw: dict[str, Any] | None = None) -> None:
        self.raw: dict[str, Any] = raw if raw is not None else {"scope": "GLOBAL", "type": "IDENTITY"}

    def scope_global(self) -> DSSUserImpersonationRule:
        """Apply the rule in every project."""
        self.raw["scope"] = "GLOBAL"
        return self

    def scope_project(self, project_key: str) -> DSSUserImpersonationRule:
        """Apply the rule only in one project (project rules are tried before global ones)."""
        self.raw["scope"] = "PROJECT"
        self.raw["projectKey"] = project_key
        return self

    def user_identity(self) -> DSSUserImpersonationRule:
        """Run each user's code as the UNIX user of the same name."""
        self.raw["type"] = "IDENTITY"
        return self

    def user_single(
        self, dss_user: str, unix_user: str, hadoop_user: str | None = None
    ) -> DSSUserImpersonationRule:
        """Run one user's code as the given UNIX (and Hadoop) user."""
        self.raw.update(
            type="SINGLE_MAPPING", dssUser=dss_user, targetUnix=unix_user, targetHadoop=hadoop_user
        )
        return self

    def user_regexp(
        self, regexp: str, unix_user: str, hadoop_user: str | None = None
    ) -> DSSUserImpersonationRule:
        """Run the code of users whose login matches `regexp` as `unix_user` (`$1` refers to groups)."""
        self.raw.update(type="REGEXP_RULE", ruleFrom=regexp, targetUnix=unix_user, targetHadoop=hadoop_user)
        return self


class DSSGroupImpersonationRule:
    """A group impersonation rule, applying to the members of matching groups. `raw` is the
    rule dict as stored in the settings."""

    def __init__(self, raw: dict[str, Any] | None = None) -> None:
        self.raw: dict[str, Any] = raw if raw is not None else {"type": "IDENTITY"}

    def group_identity(self) -> DSSGroupImpersonationRule:
        """Run the code of the members of matching groups as the UNIX user of their own login."""
        self.raw["type"] = "IDENTITY"
        return self

    def group_single(
        self, dss_group: str, unix_user: str, hadoop_user: str | None = None
    ) -> DSSGroupImpersonationRule:
        """Run the code of the members of one group as the given UNIX (and Hadoop) user."""
        self.raw.update(
            type="SINGLE_MAPPING", dssGroup=dss_group, targetUnix=unix_user, targetHadoop=hadoop_user
        )
        return self

    def group_regexp(
        self, regexp: str, unix_user: str, hadoop_user: str | None = None
    ) -> DSSGroupImpersonationRule:
        """Run the code of members of groups whose name matches `regexp` as `unix_user`."""
        self.raw.update(type="REGEXP_RULE", ruleFrom=regexp, targetUnix=unix_user, targetHadoop=hadoop_user)
        return self


ImpersonationRule = DSSUserImpersonationRule | DSSGroupImpersonationRule


def _matches(rule: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when every filter given (not None) equals the rule's field."""
    return all(value is None or rule.get(field) == value for field, value in wanted.items())


class DSSGeneralSettings:
    """The instance's general settings, read when the object is made; `save()` writes them."""

    def __init__(self, client: Requester) -> None:
        self.client = client
        self.settings: dict[str, Any] = client._perform_json("GET", "/admin/general-settings")

    def get_raw(self) -> dict[str, Any]:
        """The settings dict itself (not a copy): edits to it are saved by `save()`."""
        return self.settings

    def save(self) -> None:
        """Write the whole settings document back (admin only)."""
        self.client._perform_empty("PUT", "/admin/general-settings", body=self.settings)

    def _rules(self, field: str) -> list[dict[str, Any]]:
        return self.settings.setdefault("impersonation", {}).setdefault(field, [])

    def add_impersonation_rule(
        self, rule: ImpersonationRule | dict[str, Any], is_user_rule: bool = True
    ) -> None:
        """Append a rule; `is_user_rule` only matters when `rule` is a plain dict."""
        if isinstance(rule, DSSUserImpersonationRule):
            raw, is_user_rule = rule.raw, True
        elif isinstance(rule, DSSGroupImpersonationRule):
            raw, is_user_rule = rule.raw, False
        else:
            raw = rule
        self._rules("userRules" if is_user_rule else "groupRules").append(raw)

    def get_impersonation_rules(
        self,
        dss_user: str | None = None,
        dss_group: str | None = None,
        unix_user: str | None = None,
        hadoop_user: str | None = None,
        project_key: str | None = None,
        scope: str | None = None,
        rule_type: str | None = None,
        is_user: bool | None = None,
        rule_from: str | None = None,
    ) -> list[ImpersonationRule]:
        """The rules whose fields equal every filter given, user rules first.

        `is_user` True keeps only user rules, False only group rules. `dss_user`,
        `project_key` and `scope` filter user rules only; `dss_group` filters group rules
        only. The returned rules wrap the stored dicts, so editing them edits the settings.
        """
        shared = {
            "ruleFrom": rule_from,
            "targetUnix": unix_user,
            "targetHadoop": hadoop_user,
            "type": rule_type,
        }
        found: list[ImpersonationRule] = []
        if is_user is None or is_user:
            user_filters = {**shared, "dssUser": dss_user, "projectKey": project_key, "scope": scope}
            found += [
                DSSUserImpersonationRule(r) for r in self._rules("userRules") if _matches(r, user_filters)
            ]
        if is_user is None or not is_user:
            group_filters = {**shared, "dssGroup": dss_group}
            found += [
                DSSGroupImpersonationRule(r) for r in self._rules("groupRules") if _matches(r, group_filters)
            ]
        return found

    def remove_impersonation_rules(
        self,
        dss_user: str | None = None,
        dss_group: str | None = None,
        unix_user: str | None = None,
        hadoop_user: str | None = None,
        project_key: str | None = None,
        scope: str | None = None,
        rule_type: str | None = None,
        is_user: bool | None = None,
        rule_from: str | None = None,
    ) -> None:
        """Remove the rules `get_impersonation_rules` returns for the same filters."""
        doomed = {
            id(rule.raw)
            for rule in self.get_impersonation_rules(
                dss_user, dss_group, unix_user, hadoop_user, project_key, scope, rule_type, is_user, rule_from
            )
        }
        for field in ("userRules", "groupRules"):
            rules = self._rules(field)
            rules[:] = [r for r in rules if id(r) not in doomed]


class DSSInstanceVariables(dict[str, Any]):
    """The instance variables, as a dict: change it in place, then call `save()`."""

    def __init__(self, client: Requester, variables: dict[str, Any]) -> None:
        super().__init__(variables)
        self.client = client

    def save(self) -> None:
        """Write every variable back (admin only); variables absent from the dict are removed."""
        self.client._perform_empty("PUT", "/admin/variables/", body=dict(self))


class SettingsMethods(Requester):
    """DSSClient methods for general settings, variables and impersonation."""

    def get_general_settings(self) -> DSSGeneralSettings:
        """Read the general settings (admin only)."""
        return DSSGeneralSettings(self)

    def get_global_variables(self) -> DSSInstanceVariables:
        """Read the instance variables (admin only)."""
        return DSSInstanceVariables(self, self._perform_json("GET", "/admin/variables/"))

    def get_variables(self) -> DSSInstanceVariables:
        """Deprecated name of `get_global_variables()`."""
        warnings.warn(
            "get_variables is deprecated, use get_global_variables", DeprecationWarning, stacklevel=2
        )
        return self.get_global_variables()

    def set_variables(self, variables: dict[str, Any]) -> None:
        """Deprecated: replace every instance variable; use `get_global_variables().save()`."""
        warnings.warn(
            "set_variables is deprecated, use get_global_variables().save()", DeprecationWarning, stacklevel=2
        )
        DSSInstanceVariables(self, variables).save()

    def get_resolved_variables(self, project_key: str | None = None, typed: bool = False) -> dict[str, Any]:
        """A project's variables merged over the instance variables (`typed=False`: values
        as text). Without `project_key`, the project of the notebook this code runs in."""
        if project_key is None:
            from labkeeper.client._environment import default_project_key

            project_key = default_project_key()
        return self._perform_json(
            "GET",
            f"/projects/{path_segment(project_key)}/variables-resolved",
            params={"typed": "true" if typed else "false"},
        )

    def resolve_impersonation(self, user: str, project_key: str | None = None) -> dict[str, Any]:
        """Which UNIX (and Hadoop) user `user`'s code runs as, in `project_key` or anywhere.

        labkeeper addition. Answers `{user, projectKey, unixUser, hadoopUser, matchedRule:
        {kind, index, rule}}`; raises `ForbiddenError` (NotMatchedOntoSystemUserException)
        when no rule matches.
        """
        return self._perform_json(
            "GET", "/admin/impersonation/resolve", params={"user": user, "projectKey": project_key}
        )
