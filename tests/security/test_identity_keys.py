"""Session keys cannot manage keys, HTTP Basic takes the key from either field, cached
project lists are per principal, and the audit log records only authenticated calls, with
key-like values masked."""

from __future__ import annotations

import base64
import logging

import pytest
from sqlalchemy import func, select

from labkeeper.audit.models import AuditEvent
from labkeeper.auth import key_service
from labkeeper.auth.keys import hash_secret, new_id
from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from labkeeper.server.logfilter import RedactSecrets
from tests.conftest import ADMIN_KEY, API, Instance
from tests.helpers import assert_error


def _count(instance: Instance, model=ApiKey) -> int:  # type: ignore[no-untyped-def]
    with instance.store.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


# ---------------------------------------------------------------- session keys


@pytest.mark.parametrize("proxy", [None, "bob"])
def test_a_session_key_cannot_manage_keys(instance: Instance, proxy: str | None) -> None:
    instance.make_user("bob", ["team"])
    global_key = instance.admin.post("/admin/global-api-keys/", json={"label": "g"}).json()
    personal = instance.admin.post("/personal-api-keys/", json={"label": "p"}).json()
    _, secret = key_service.create_session_key(instance.store, login="admin", label="nb", lifetime_ms=60_000)
    session = instance.client(secret)
    if proxy:
        session.headers["X-DKU-ProxyUser"] = proxy
    before = _count(instance)
    attempts = [
        session.post("/admin/global-api-keys/", json={"label": "x", "globalPermissions": {"admin": True}}),
        session.put(f"/admin/global-api-keys/{global_key['id']}", json={"label": "y"}),
        session.delete(f"/admin/global-api-keys/{global_key['id']}"),
        session.get(f"/admin/globalAPIKeys/{global_key['key']}"),
        session.delete(f"/admin/globalAPIKeys/{global_key['key']}"),
        session.post("/personal-api-keys/", json={"label": "forever"}),
        session.put(f"/personal-api-keys/{personal['id']}", json={"label": "mine now"}),
        session.delete(f"/personal-api-keys/{personal['id']}"),
        session.post("/admin/personal-api-keys/", json={"user": "bob", "label": "for bob"}),
    ]
    for answer in attempts:
        if proxy and answer.request.url.path.startswith(f"{API}/admin/"):
            assert answer.status_code == 403, answer.text  # bob is no admin either
            continue
        assert_error(answer, 403, "session keys cannot manage")
    assert _count(instance) == before
    assert instance.admin.get(f"/admin/global-api-keys/{global_key['id']}").json()["label"] == "g"
    # It still acts as its creator everywhere else.
    expected = proxy or "admin"
    assert session.get("/current-user").json()["login"] == expected


# ---------------------------------------------------------------- HTTP Basic


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_takes_the_key_from_either_field(instance: Instance) -> None:
    plain = "PlainChosenKey0123456789xyz"  # a key chosen by an admin: no lk_ prefix
    with instance.store.begin() as s:
        s.add(
            ApiKey(
                id=new_id(), kind="GLOBAL", prefix=plain[:7], secret_hash=hash_secret(plain), label="plain",
                admin=True, groups=[], extra={}, created_on=now_ms(), created_by="tests", expires_on=0,
                last_used_on=0,
            )
        )  # fmt: skip
    http = instance.http
    url = f"{API}/current-user"
    for user, password in [
        (ADMIN_KEY, ""),
        ("", ADMIN_KEY),
        ("admin", ADMIN_KEY),
        (ADMIN_KEY, "anything"),
        ("someone", plain),
        (plain, "x"),
        ("lk_not_a_key_at_all_0000", ADMIN_KEY),
    ]:
        answer = http.get(url, headers=_basic(user, password))
        assert answer.status_code == 200, (user, password, answer.text)
    for user, password in [("admin", "lk_wrong_key_0123456789"), ("", ""), ("admin", ""), ("x", "y")]:
        assert_error(http.get(url, headers=_basic(user, password)), 401)


# ---------------------------------------------------------------- cached views


def test_global_keys_with_the_same_groups_see_their_own_projects(instance: Instance) -> None:
    instance.make_user("carol", ["team"])
    body = {"groups": ["team"], "globalPermissions": {"mayCreateProjects": True}}
    first = instance.client(instance.admin.post("/admin/global-api-keys/", json=body).json()["key"])
    second = instance.client(instance.admin.post("/admin/global-api-keys/", json=body).json()["key"])
    assert second.get("/projects/").json() == []
    assert first.post("/projects/", json={"projectKey": "FIRSTS", "name": "First's"}).status_code == 200
    assert [p["projectKey"] for p in first.get("/projects/").json()] == ["FIRSTS"]
    assert second.get("/projects/").json() == []
    assert second.get("/projects/", params={"includeLocation": "true"}).json() == []
    assert_error(second.get("/projects/FIRSTS"), 403)


# ---------------------------------------------------------------- audit


def test_key_like_values_in_paths_are_masked_in_audit_rows(instance: Instance) -> None:
    dss_style = "Yp5gXw1JvG3r2WzQ8LmN7bT4kHc6aD0s"
    for path in [
        f"/admin/global-api-keys/{ADMIN_KEY}",
        f"/personal-api-keys/{dss_style}",
        f"/projects/{ADMIN_KEY}",
        f"/admin/globalAPIKeys/{ADMIN_KEY}",
    ]:
        assert instance.admin.delete(path).status_code in (400, 403, 404, 405)
    audit = instance.admin.get("/admin/audit")
    assert ADMIN_KEY not in audit.text and ADMIN_KEY[7:20] not in audit.text and dss_style not in audit.text
    targets = [e["target"] for e in audit.json()]
    assert targets.count("[redacted]") >= 3, targets


def test_unauthenticated_and_unknown_route_requests_add_no_rows(instance: Instance) -> None:
    rows = _count(instance, AuditEvent)
    before = instance.admin.get("/admin/audit/unaudited").json()
    anonymous, wrong = instance.client(None), instance.client("lk_wrong_key_0123456789abcdef")
    assert_error(anonymous.post("/admin/users/", json={"login": "x"}), 401)
    assert_error(wrong.post("/admin/audit/custom/i-was-here", json={"note": "forged"}), 401)
    assert_error(wrong.delete("/projects/PWNED-by-anonymous"), 401)
    assert anonymous.post("/no/such/route/written-by-a-stranger").status_code == 404
    assert instance.admin.post("/no/such/route/even-with-a-key").status_code == 404
    assert _count(instance, AuditEvent) == rows
    after = instance.admin.get("/admin/audit/unaudited").json()
    assert after["unauthenticated"] - before["unauthenticated"] == 3
    assert after["unknownRoute"] - before["unknownRoute"] == 2
    # An authenticated call, even refused, is still audited.
    assert (
        instance.client(instance.make_user("dan")).post("/admin/users/", json={"login": "y"}).status_code
        == 403
    )
    assert _count(instance, AuditEvent) == rows + 1


def test_access_log_lines_mask_keys_anywhere_in_the_path() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    for path in [f"{API}/projects/{ADMIN_KEY}/datasets/", f"{API}/x?apiKey={ADMIN_KEY}"]:
        record.args = ("127.0.0.1:5000", "GET", path, "1.1", 404)
        RedactSecrets().filter(record)
        assert ADMIN_KEY not in record.getMessage() and "[redacted]" in record.getMessage()
