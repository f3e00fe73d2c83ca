"""Each method sends the route, parameters and body the DSS public API defines, and wraps
the answer in the documented type (MockTransport; the live tests check the server side)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest

from labkeeper.client import (
    DataikuException,
    DSSGlobalApiKey,
    DSSGlobalApiKeyDefinition,
    DSSGlobalApiKeyListItem,
    DSSGlobalUsageSummary,
    DSSInstanceVariables,
    DSSPersonalApiKey,
    DSSPersonalApiKeyListItem,
    DSSProject,
    DSSUser,
)
from tests.client.recording import Recorder

CREATED_MS = 1_700_000_000_123
GLOBAL_KEY = {
    "id": "k1",
    "key": "lk_abc************",
    "label": "L",
    "description": "D",
    "globalPermissions": {"admin": True},
    "groups": None,
    "dssUserForImpersonation": "bob",
    "createdOn": CREATED_MS,
    "createdBy": "admin",
    "expiresOn": 0,
    "expiry": None,
}
PERSONAL_KEY = {
    "id": "p1",
    "key": "lk_xyz************",
    "user": "alice",
    "label": "mine",
    "description": "",
    "createdOn": CREATED_MS,
    "createdBy": "alice",
    "expiresOn": 0,
}


def test_users_requests() -> None:
    rec = Recorder(
        {
            ("GET", "/admin/users/"): [{"login": "alice"}],
            ("POST", "/admin/users/"): None,
            ("GET", "/admin/users/alice"): {"login": "alice", "enabled": True, "creationDate": CREATED_MS},
            ("PUT", "/admin/users/alice"): None,
            ("DELETE", "/admin/users/alice"): None,
            ("GET", "/current-user"): {"login": "admin", "userProperties": {}},
            ("PUT", "/current-user"): None,
        }
    )
    client = rec.client()
    assert client.list_users() == [{"login": "alice"}]
    assert rec.last.params["includeSettings"][0].lower() == "false"
    [user] = client.list_users(as_objects=True)
    assert isinstance(user, DSSUser) and user.login == "alice"

    user = client.create_user("alice", "pw", display_name="Alice", groups=["g"])
    assert rec.last.body == {
        "login": "alice",
        "password": "pw",
        "displayName": "Alice",
        "sourceType": "LOCAL",
        "groups": ["g"],
        "userProfile": "DATA_SCIENTIST",
        "email": None,
    }
    settings = user.get_settings()
    assert settings.enabled is True
    assert settings.creation_date == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)
    settings.enabled = False
    settings.admin_properties["team"] = "x"
    settings.add_secret("tok", "s3")
    settings.add_secret("tok", "s4")
    settings.save()
    assert rec.last.method == "PUT"
    assert rec.last.body["enabled"] is False
    assert rec.last.body["adminProperties"] == {"team": "x"}
    assert rec.last.body["secrets"] == [{"name": "tok", "value": "s4", "secret": True}]
    user.delete()
    assert rec.last.method == "DELETE" and rec.last.params["allowSelfDeletion"][0].lower() == "false"

    own = client.get_own_user().get_settings()
    own.user_properties["colour"] = "blue"
    own.save()
    assert rec.last.path == "/current-user" and rec.last.body["userProperties"] == {"colour": "blue"}


def test_groups_requests() -> None:
    definition = {"name": "g", "description": "", "sourceType": "LOCAL", "admin": False}
    rec = Recorder(
        {
            ("GET", "/admin/groups/g"): definition,
            ("PUT", "/admin/groups/g"): None,
            ("DELETE", "/admin/groups/g"): None,
        }
    )
    group = rec.client().get_group("g")
    assert rec.calls == []  # lazy
    got = group.get_definition()
    got["description"] = "new"
    group.set_definition(got)
    assert rec.last.body["description"] == "new"
    group.delete()
    assert [c.method for c in rec.calls] == ["GET", "PUT", "DELETE"]


def test_global_api_keys_requests() -> None:
    created = {**GLOBAL_KEY, "key": "lk_full_secret"}
    rec = Recorder(
        {
            ("GET", "/admin/global-api-keys/"): [GLOBAL_KEY],
            ("POST", "/admin/global-api-keys/"): created,
            ("GET", "/admin/global-api-keys/k1"): GLOBAL_KEY,
            ("PUT", "/admin/global-api-keys/k1"): None,
            ("DELETE", "/admin/global-api-keys/k1"): None,
            ("GET", "/admin/globalAPIKeys/lk_full_secret"): GLOBAL_KEY,
        }
    )
    client = rec.client()
    [item] = client.list_global_api_keys()
    assert isinstance(item, DSSGlobalApiKeyListItem) and item == GLOBAL_KEY
    assert (
        item.id,
        item.key,
        item.label,
        item.description,
        item.user_for_impersonation,
        item.created_by,
    ) == ("k1", GLOBAL_KEY["key"], "L", "D", "bob", "admin")
    assert item.created_on == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)
    assert item.created_on.tzinfo is not None
    assert item.to_global_api_key().id_ == "k1"
    [obj] = client.list_global_api_keys(as_type="objects")
    assert isinstance(obj, DSSGlobalApiKey) and obj.id == "k1"
    with pytest.raises(ValueError):
        client.list_global_api_keys(as_type="nope")  # type: ignore[arg-type]

    key = client.create_global_api_key("L", "D", admin=True)
    assert rec.last.body == {"label": "L", "description": "D", "globalPermissions": {"admin": True}}
    assert (key.key, key.id_) == ("lk_full_secret", "k1")
    client.create_global_api_key_with_groups("L", groups=["g"])
    assert rec.last.body == {"label": "L", "description": None, "groups": ["g"]}

    definition = client.get_global_api_key_by_id("k1").get_definition()
    assert isinstance(definition, DSSGlobalApiKeyDefinition)
    assert definition.expires_on is None
    definition.label = "renamed"
    definition.save()
    assert rec.last.method == "PUT" and rec.last.body["label"] == "renamed"
    key.set_definition(definition)
    assert rec.last.body["label"] == "renamed"
    key.delete()
    assert (rec.last.method, rec.last.path) == ("DELETE", "/admin/global-api-keys/k1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert client.get_global_api_key("lk_full_secret").id_ == "k1"


def test_global_api_key_creation_without_an_id_is_an_error() -> None:
    rec = Recorder({("POST", "/admin/global-api-keys/"): {"label": "x"}})
    with pytest.raises(DataikuException, match="no key id"):
        rec.client().create_global_api_key("x")


def test_personal_api_keys_requests() -> None:
    created = {**PERSONAL_KEY, "key": "lk_full"}
    rec = Recorder(
        {
            ("GET", "/personal-api-keys/"): [PERSONAL_KEY],
            ("POST", "/personal-api-keys/"): created,
            ("GET", "/admin/personal-api-keys/"): [PERSONAL_KEY],
            ("POST", "/admin/personal-api-keys/"): created,
            ("GET", "/personal-api-keys/p1"): PERSONAL_KEY,
            ("PUT", "/personal-api-keys/p1"): None,
            ("DELETE", "/personal-api-keys/p1"): None,
        }
    )
    client = rec.client()
    [item] = client.list_personal_api_keys()
    assert isinstance(item, DSSPersonalApiKeyListItem)
    assert (item.id, item.user, item.label, item.created_by) == ("p1", "alice", "mine", "alice")
    assert item.created_on == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)
    assert isinstance(client.list_all_personal_api_keys(as_type="objects")[0], DSSPersonalApiKey)
    assert rec.last.path == "/admin/personal-api-keys/"
    made = client.create_personal_api_key("mine", "d")
    assert made == created and rec.last.body == {"label": "mine", "description": "d"}
    handle = client.create_personal_api_key("mine", as_type="object")
    assert isinstance(handle, DSSPersonalApiKey) and handle.key == "lk_full"
    for_bob = client.create_personal_api_key_for_user("bob", "x")
    assert isinstance(for_bob, DSSPersonalApiKey)
    assert rec.last.body == {"user": "bob", "label": "x", "description": ""}
    lazy = client.get_personal_api_key("p1")
    count = len(rec.calls)
    assert len(rec.calls) == count and lazy.key == ""
    definition = lazy.get_definition()
    definition["label"] = "new"
    lazy.set_definition(definition)
    assert rec.last.body["label"] == "new"
    lazy.delete()
    assert rec.last.method == "DELETE"


def test_variables_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(
        {
            ("GET", "/admin/variables/"): {"a": 1},
            ("PUT", "/admin/variables/"): None,
            ("GET", "/projects/P/variables-resolved"): {"a": 1, "b": 2},
        }
    )
    client = rec.client()
    variables = client.get_global_variables()
    assert isinstance(variables, DSSInstanceVariables) and variables == {"a": 1}
    variables["b"] = [1, 2]
    del variables["a"]
    variables.save()
    assert rec.last.body == {"b": [1, 2]}
    with pytest.warns(DeprecationWarning):
        assert client.get_variables() == {"a": 1}
    with pytest.warns(DeprecationWarning):
        client.set_variables({"c": 3})
    assert rec.last.body == {"c": 3}
    assert client.get_resolved_variables("P", typed=True) == {"a": 1, "b": 2}
    assert rec.last.params == {"typed": ["true"]}
    monkeypatch.delenv("LABKEEPER_PROJECT_KEY", raising=False)
    with pytest.raises(RuntimeError, match="notebook"):
        client.get_resolved_variables()
    monkeypatch.setenv("LABKEEPER_PROJECT_KEY", "P")
    client.get_resolved_variables()
    assert (rec.last.path, rec.last.params) == ("/projects/P/variables-resolved", {"typed": ["false"]})


def test_projects_requests() -> None:
    settings = {"settings": {"codeEnvs": {"python": {"mode": "INHERIT"}, "r": {"mode": "INHERIT"}}}}
    rec = Recorder(
        {
            ("GET", "/projects/"): [{"projectKey": "A"}, {"projectKey": "B"}],
            ("POST", "/projects/"): {"projectKey": "NEW"},
            ("GET", "/projects/NEW"): {"projectKey": "NEW"},
            ("GET", "/projects/NEW/metadata"): {"label": "n", "tags": []},
            ("PUT", "/projects/NEW/metadata"): None,
            ("GET", "/projects/NEW/settings"): settings,
            ("PUT", "/projects/NEW/settings"): None,
            ("GET", "/projects/NEW/permissions"): {"owner": "admin", "permissions": []},
            ("PUT", "/projects/NEW/permissions"): None,
            ("GET", "/projects/NEW/variables/"): {"standard": {"x": 1}, "local": {}},
            ("PUT", "/projects/NEW/variables/"): None,
            ("GET", "/projects/NEW/datasets/"): [{"name": "d"}],
            ("GET", "/projects/NEW/recipes/"): [{"name": "r"}],
            ("GET", "/projects/NEW/scenarios/"): [{"id": "s"}],
        }
    )
    client = rec.client()
    assert client.list_project_keys() == ["A", "B"]
    client.list_projects()
    assert rec.last.params["includeLocation"][0].lower() == "false"
    project = client.create_project("NEW", "New", "admin", description="d")
    assert isinstance(project, DSSProject) and project.project_key == "NEW"
    assert rec.last.params == {}
    assert rec.last.body == {
        "projectKey": "NEW",
        "name": "New",
        "owner": "admin",
        "settings": None,
        "description": "d",
        "permissions": [],
        "tags": [],
    }
    client.create_project("NEW", "New", "admin", project_folder_id="F1", tags=["t"])
    assert rec.last.params == {"projectFolderId": ["F1"]} and rec.last.body["tags"] == ["t"]

    count = len(rec.calls)
    project = client.get_project("NEW")
    assert len(rec.calls) == count  # lazy handle
    assert project.get_summary() == {"projectKey": "NEW"}
    meta = project.get_metadata()
    meta["tags"] = ["x"]
    project.set_metadata(meta)
    assert rec.last.body == {"label": "n", "tags": ["x"]}

    project_settings = project.get_settings()
    project_settings.set_python_code_env("py311")
    project_settings.set_r_code_env(None)
    project_settings.save()
    code_envs = rec.last.body["settings"]["codeEnvs"]
    assert code_envs["python"] == {"mode": "EXPLICIT_ENV", "envName": "py311", "useBuiltinEnv": False}
    assert code_envs["r"] == {"mode": "USE_BUILTIN_MODE", "useBuiltinEnv": True}

    perms = project.get_permissions()
    perms["permissions"].append({"group": "g", "readProjectContent": True})
    project.set_permissions(perms)
    assert rec.last.body["permissions"] == [{"group": "g", "readProjectContent": True}]

    project.update_variables({"y": 2})
    assert rec.last.body == {"standard": {"x": 1, "y": 2}, "local": {}}
    with pytest.raises(ValueError, match="local"):
        project.set_variables({"standard": {}})

    assert project.list_datasets() == [{"name": "d"}]
    assert rec.last.params == {"foreign": ["false"]}
    project.list_datasets(tags=["a", "b"])
    assert rec.last.params["tags"] == ["a", "b"]
    assert project.list_recipes() == [{"name": "r"}]
    assert project.list_scenarios() == [{"id": "s"}]
    with pytest.raises(ValueError, match="listitems"):
        project.list_recipes(as_type="objects")


def test_usage_and_audit_requests() -> None:
    summary = {
        "projects": 2,
        "datasets": {"all": 3},
        "recipes": {"all": 4},
        "scenarios": {"all": 5, "activeWithTriggers": 1},
        "notebooks": {"nbJupyterNotebooks": 6, "nbSqlNotebooks": 7},
    }
    rec = Recorder(
        {
            ("GET", "/admin/monitoring/global-usage-summary"): summary,
            ("POST", "/admin/audit/custom/my-event"): None,
            ("GET", "/admin/audit"): [{"id": 1}],
            ("GET", "/admin/impersonation/resolve"): {"unixUser": "u"},
        }
    )
    client = rec.client()
    usage = client.get_global_usage_summary(with_per_project=True)
    assert isinstance(usage, DSSGlobalUsageSummary) and usage.raw == summary
    assert rec.last.params["withPerProject"][0].lower() == "true"
    assert (
        usage.projects_count,
        usage.total_datasets_count,
        usage.total_recipes_count,
        usage.total_scenarios_count,
        usage.total_active_with_trigger_scenarios_count,
        usage.total_jupyter_notebooks_count,
        usage.total_sql_notebooks_count,
    ) == (2, 3, 4, 5, 1, 6, 7)

    client.log_custom_audit("my-event")
    assert rec.last.body == {}
    client.log_custom_audit("my-event", {"a": 1})
    assert rec.last.body == {"a": 1}
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert client.get_audit_log(since=since, limit=10, offset=5) == [{"id": 1}]
    assert rec.last.params == {
        "since": [str(int(since.timestamp() * 1000))],
        "limit": ["10"],
        "offset": ["5"],
    }

    assert client.resolve_impersonation("bob") == {"unixUser": "u"}
    assert rec.last.params == {"user": ["bob"]}
    client.resolve_impersonation("bob", project_key="P")
    assert rec.last.params == {"user": ["bob"], "projectKey": ["P"]}
