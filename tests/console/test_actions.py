"""Console actions over HTTP: the same rules as the API (who may see and stop a session,
admin-only changes), an audit row for each, and nothing stored when a form is refused."""

from __future__ import annotations

from tests.console.helpers import PASSWORD, csrf_of, set_password, signed_in
from tests.jupyter.helpers import notebook
from tests.projects.helpers import create, grant


def _session(instance, key: str) -> dict:  # type: ignore[no-untyped-def]
    assert instance.admin.post(f"/projects/{key}/jupyter-notebooks/nb", json=notebook("1")).status_code == 200
    answer = instance.admin.post(f"/projects/{key}/jupyter-notebooks/nb/sessions")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_member_sees_and_stops_only_what_the_api_lets_them(instance) -> None:  # type: ignore[no-untyped-def]
    create(instance, "SECRET")
    create(instance, "SHARED")
    instance.make_user("bob", ["team"])
    grant(instance, "SHARED", "team", readProjectContent=True)
    set_password(instance, "bob")
    hidden, shared = _session(instance, "SECRET"), _session(instance, "SHARED")
    bob = signed_in(instance, "bob")
    table = bob.get("/notebooks/table").text
    assert shared["sessionId"] in table and hidden["sessionId"] not in table
    token = csrf_of(bob, "/notebooks")
    for session in (hidden, shared):  # neither is bob's, and bob is no project admin
        r = bob.post("/notebooks/unload", data={"csrf": token, "session": session["sessionId"]})
        assert r.status_code == 403, r.text
    sessions = instance.admin.get("/admin/notebooks/").json()
    assert {s["sessionId"] for nb in sessions for s in nb["activeSessions"]} == {
        hidden["sessionId"],
        shared["sessionId"],
    }
    events = instance.admin.get("/admin/audit", params={"limit": 5}).json()
    assert [e["outcome"] for e in events if e["action"] == "POST /notebooks/unload"] == ["error 403"] * 2
    assert all(e["user"] == "bob" for e in events if e["action"] == "POST /notebooks/unload")


def test_an_admin_unloads_many_at_once_and_it_is_audited(instance) -> None:  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    create(instance, "A")
    create(instance, "B")
    first, second = _session(instance, "A"), _session(instance, "B")
    admin = signed_in(instance, "admin")
    token = csrf_of(admin, "/notebooks")
    r = admin.post(
        "/notebooks/unload", data={"csrf": token, "session": [first["sessionId"], second["sessionId"]]}
    )
    assert r.status_code == 200 and "Unloaded 2 session(s)" in r.text
    assert instance.admin.get("/admin/notebooks/").json() == []
    event = instance.admin.get("/admin/audit", params={"limit": 1}).json()[0]
    assert (event["user"], event["action"], event["outcome"]) == (
        "admin",
        "POST /notebooks/unload",
        "success",
    )


def test_a_refused_settings_form_stores_nothing(instance) -> None:  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    before = instance.admin.get("/admin/general-settings").json()
    admin = signed_in(instance, "admin")
    token = csrf_of(admin, "/settings")
    common = {"csrf": token, "idleKernelTimeoutSeconds": "-5", "maxSessionsPerUser": "3", "indexUrl": "",
              "maxLifetimeDays": "0"}  # fmt: skip
    r = admin.post("/settings/common", data=common)
    assert r.status_code == 400 and "whole number" in r.text
    r = admin.post("/settings/document", data={"csrf": token, "document": "{not json"})
    assert r.status_code == 400 and "not valid JSON" in r.text and "{not json" in r.text
    r = admin.post("/settings/document", data={"csrf": token, "document": "[" * 200 + "]" * 200})
    assert r.status_code == 400
    assert instance.admin.get("/admin/general-settings").json() == before
    common["idleKernelTimeoutSeconds"] = "120"
    assert admin.post("/settings/common", data=common).status_code == 200
    after = instance.admin.get("/admin/general-settings").json()
    assert (
        after["notebooks"]["idleKernelTimeoutSeconds"] == 120
        and after["notebooks"]["maxSessionsPerUser"] == 3
    )


def test_disabling_a_user_from_the_console_ends_their_session(instance) -> None:  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    admin = signed_in(instance, "admin")
    token = csrf_of(admin, "/users")
    r = admin.post("/users/create", data={"csrf": token, "login": "carol", "password": PASSWORD})
    assert r.status_code == 200, r.text
    carol = signed_in(instance, "carol")
    assert carol.get("/keys").status_code == 200
    assert admin.post("/users/carol/disable", data={"csrf": token}).status_code == 200
    assert carol.get("/keys", follow_redirects=False).status_code == 303
    r = admin.post("/users/create", data={"csrf": token, "login": "../etc/passwd"})
    assert r.status_code == 400
    assert admin.post("/users/carol/promote", data={"csrf": token}).status_code == 400


def test_a_key_secret_is_never_in_a_log_or_the_audit(instance, caplog) -> None:  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    admin = signed_in(instance, "admin")
    r = admin.post("/keys/create", data={"csrf": csrf_of(admin), "label": "ci"})
    assert r.status_code == 200
    secret = r.text.split('id="new-secret">')[1].split("<")[0]
    assert len(secret) >= 32 and r.headers["cache-control"] == "no-store"
    events = instance.admin.get("/admin/audit", params={"limit": 20}).json()
    assert secret not in str(events) and secret not in caplog.text
    assert secret not in admin.get("/keys").text
