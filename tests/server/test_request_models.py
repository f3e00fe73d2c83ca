"""Request models: every body and query parameter is declared, checked by the compiled
plan, and refused with the DSS error body naming what to fix; DSS documents keep keys
labkeeper does not know."""

from __future__ import annotations

import pytest

from tests.conftest import Instance
from tests.helpers import assert_bad, assert_error


def test_the_document_describes_every_body_and_query_parameter(instance: Instance) -> None:
    doc = instance.http.get("/openapi.json").json()
    operations = {(m.upper(), p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    body = operations[("POST", "/dip/publicapi/admin/users/")]["requestBody"]
    assert body["required"] is True
    user = doc["components"]["schemas"]["UserCreate"]
    assert user["required"] == ["login"] and user["additionalProperties"] is True
    assert {"login", "groups", "enabled", "password"} <= set(user["properties"])
    params = {p["name"]: p for p in operations[("GET", "/dip/publicapi/futures/")]["parameters"]}
    assert params["allUsers"]["schema"]["type"] == "boolean"
    assert params["limit"]["schema"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 100_000}
    settings = doc["components"]["schemas"]["NotebooksSection"]["properties"]["maxSessionsPerUser"]
    assert settings["anyOf"][0]["minimum"] == 1
    # Every state-changing route that reads a body declares it; every answer documents the DSS errors.
    for (method, path), op in operations.items():
        assert {"400", "401", "403", "404"} <= set(op["responses"]), (method, path)
    with_body = [key for key, op in operations.items() if "requestBody" in op]
    assert len(with_body) > 40


@pytest.mark.parametrize("spelling", ["True", "true", "1", "yes", " TRUE "])
def test_dss_spellings_of_true_are_accepted(instance: Instance, spelling: str) -> None:
    instance.make_user("ann", ["g"])
    users = instance.admin.get("/admin/users/", params={"includeSettings": spelling}).json()
    assert all("preferences" in user for user in users)


@pytest.mark.parametrize("spelling", ["False", "false", "0", "no", ""])
def test_dss_spellings_of_false_are_accepted(instance: Instance, spelling: str) -> None:
    instance.make_user("ann", ["g"])
    users = instance.admin.get("/admin/users/", params={"includeSettings": spelling}).json()
    assert not any("preferences" in user for user in users)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/futures/", {"allUsers": "maybe"}, "query.allUsers"),
        ("/projects/", {"limit": "-1"}, "query.limit"),
        ("/projects/", {"limit": "9" * 30}, "query.limit"),
        ("/projects/", {"offset": "1e3"}, "query.offset"),
        ("/admin/audit", {"since": "yesterday"}, "query.since"),
        ("/admin/users-activity", {"enabledUsersOnly": "\x01"}, "query.enabledUsersOnly"),
    ],
)
def test_a_query_parameter_that_does_not_fit_is_a_400_naming_it(
    instance: Instance, path: str, params: dict, field: str
) -> None:
    assert_bad(instance.admin.get(path, params=params), field)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", ("body is required",)),
        (b"[]", ("body", "JSON object")),
        (b'"bob"', ("body", "JSON object")),
        (b'{"login": 3}', ("body.login", "string")),
        (b'{"login": "bob", "groups": "admins"}', ("body.groups", "array")),
        (b'{"login": "bob", "groups": [1]}', ("body.groups.0", "string")),
        (b'{"login": "bob", "enabled": "true"}', ("body.enabled", "boolean")),
        (b'{"login": "bob", "userProperties": []}', ("body.userProperties", "object")),
        (b'{"login": "bob",', ("Malformed JSON",)),
        (b'{"login": "\\ud800"}', ("Malformed JSON",)),
        (b'{"a":' * 65 + b"1" + b"}" * 65, ("64 levels",)),
        (b"[" * 300 + b"]" * 300, ("levels",)),
    ],
)
def test_a_body_that_does_not_fit_is_a_400_naming_the_field_and_nothing_is_written(
    instance: Instance, body: bytes, words: tuple[str, ...]
) -> None:
    assert_bad(instance.admin.post("/admin/users/", content=body), *words)
    logins = {u["login"] for u in instance.admin.get("/admin/users/").json()}
    assert "bob" not in logins


def test_a_password_sent_in_a_refused_body_is_not_repeated(instance: Instance) -> None:
    answer = assert_bad(
        instance.admin.post("/admin/users/", json={"login": "bob", "password": ["S3cret-Value-42"]}),
        "body.password",
    )
    assert "S3cret" not in answer["message"] + answer["detailedMessage"]


def test_the_key_is_checked_before_the_body(instance: Instance) -> None:
    anonymous = instance.client(None)
    assert_error(anonymous.post("/admin/users/", content=b"not json"), 401)
    member = instance.client(instance.make_user("mallory", ["staff"]))
    assert_error(member.post("/admin/users/", content=b'{"login": 3}'), 403)
    assert_error(member.put("/admin/general-settings", content=b"[]"), 403)


def test_a_member_cannot_slip_a_wrong_type_into_a_project_document(instance: Instance) -> None:
    member = instance.client(
        instance.make_user("mallory", ["staff"], group_permissions={"mayCreateProjects": True})
    )
    assert member.post("/projects/", json={"projectKey": "MINE", "name": "Mine"}).status_code == 200
    assert_bad(member.post("/projects/", json={"projectKey": ["X"], "name": "x"}), "body.projectKey")
    assert_bad(member.put("/projects/MINE/tags", json={"tags": {"t": "red"}}), "body.tags.t")
    assert_bad(member.put("/projects/MINE/metadata", json=[{"label": "x"}]), "body", "JSON object")
    assert_bad(
        member.post("/projects/MINE/duplicate/", json={"targetProjectKey": "COPY"}), "targetProjectName"
    )
    assert_bad(member.get("/projects/MINE/datasets/", params={"foreign": "perhaps"}), "query.foreign")
    assert {p["projectKey"] for p in member.get("/projects/").json()} == {"MINE"}


def test_general_settings_keep_unknown_keys_at_every_level(instance: Instance) -> None:
    settings = instance.admin.get("/admin/general-settings").json()
    settings["someDssSection"] = {"nested": [1, {"deep": True}]}
    settings["notebooks"]["someDssKey"] = "kept"
    settings["impersonation"]["userRules"] = [
        {"type": "IDENTITY", "dssUser": "ann", "scope": "GLOBAL", "ruleVersion": 3}
    ]
    assert instance.admin.put("/admin/general-settings", json=settings).status_code == 204
    again = instance.admin.get("/admin/general-settings").json()
    assert again["someDssSection"] == {"nested": [1, {"deep": True}]}
    assert again["notebooks"]["someDssKey"] == "kept"
    assert again["impersonation"]["userRules"][0]["ruleVersion"] == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"impersonation": {"minTargetUid": -1}}, "body.impersonation.minTargetUid"),
        ({"impersonation": {"minTargetUid": "1000"}}, "body.impersonation.minTargetUid"),
        ({"impersonation": None}, "body.impersonation"),
        ({"impersonation": {"userRules": [{"type": "EVERYONE"}]}}, "body.impersonation.userRules.0.type"),
        ({"notebooks": {"maxSessionsPerUser": 0}}, "body.notebooks.maxSessionsPerUser"),
        ({"notebooks": {"maxRunOutputBytes": True}}, "body.notebooks.maxRunOutputBytes"),
        ({"codeEnvs": {"packageIndex": {"offline": "yes"}}}, "body.codeEnvs.packageIndex.offline"),
        ({"codeEnvs": {"packageIndex": {"indexUrl": "not a url"}}}, "packageIndex.indexUrl"),
        ({"apiKeys": {"maxLifetimeDays": 10**6}}, "body.apiKeys.maxLifetimeDays"),
    ],
)
def test_general_settings_that_do_not_fit_are_refused_and_nothing_changes(
    instance: Instance, change: dict, field: str
) -> None:
    before = instance.admin.get("/admin/general-settings").json()
    assert_bad(instance.admin.put("/admin/general-settings", json={**before, **change}), field)
    assert instance.admin.get("/admin/general-settings").json() == before
