"""The sign-in seam (console/signin.py) against a real store: sessions end at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labkeeper.audit.models import AuditEvent
from labkeeper.console import signin
from labkeeper.console.models import ConsoleSession
from labkeeper.db import now_ms

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(instance):  # type: ignore[no-untyped-def]
    instance.make_user("alice", ["analysts"], group_permissions={"mayCreateProjects": True})
    r = instance.admin.put("/admin/users/alice", json={"login": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return instance


def test_session_grants_what_the_users_key_grants(alice) -> None:  # type: ignore[no-untyped-def]
    signed = signin.sign_in(alice.store, "alice", PASSWORD, "10.0.0.1")
    principal = signin.principal_for_cookie(alice.store, signed.cookie_value)
    assert principal is not None
    assert principal.login == "alice" and not principal.admin
    assert principal.groups == frozenset({"analysts"})
    assert principal.permissions == frozenset({"mayCreateProjects"})
    token = signin.csrf_token_for(signed.cookie_value)
    assert signin.csrf_token_ok(alice.store, signed.cookie_value, token)
    tampered = token[:-1] + ("1" if token.endswith("0") else "0")  # never the token itself
    assert not signin.csrf_token_ok(alice.store, signed.cookie_value, tampered)
    # Only a hash of the cookie is stored.
    with alice.store.read() as s:
        ids = list(s.scalars(select(ConsoleSession.id_hash)))
    assert ids and signed.cookie_value not in ids


@pytest.mark.parametrize("ending", ["logout", "password", "disable", "delete"])
def test_sessions_end_at_once(alice, ending: str) -> None:  # type: ignore[no-untyped-def]
    signed = signin.sign_in(alice.store, "alice", PASSWORD, "10.0.0.1")
    other = signin.sign_in(alice.store, "alice", PASSWORD, "10.0.0.2")
    if ending == "logout":
        assert signin.end_session(alice.store, signed.cookie_value) == "alice"
    elif ending == "password":
        r = alice.admin.put("/admin/users/alice", json={"login": "alice", "password": "another one"})
        assert r.status_code == 200
    elif ending == "disable":
        assert (
            alice.admin.put("/admin/users/alice", json={"login": "alice", "enabled": False}).status_code
            == 200
        )
    else:
        assert alice.admin.delete("/admin/users/alice").status_code == 204
    assert signin.principal_for_cookie(alice.store, signed.cookie_value) is None
    token = signin.csrf_token_for(signed.cookie_value)
    assert not signin.csrf_token_ok(alice.store, signed.cookie_value, token)
    # /logout ends only its own session; the others end every session of the user.
    still = signin.principal_for_cookie(alice.store, other.cookie_value)
    assert (still is not None) == (ending == "logout")


def test_idle_and_absolute_expiry(alice) -> None:  # type: ignore[no-untyped-def]
    idle = signin.sign_in(alice.store, "alice", PASSWORD, "a")
    old = signin.sign_in(alice.store, "alice", PASSWORD, "a")
    now = now_ms()
    with alice.store.begin() as s:
        s.get(ConsoleSession, signin._digest(idle.cookie_value)).last_seen_on = now - signin.IDLE_MS - 1000
        row = s.get(ConsoleSession, signin._digest(old.cookie_value))
        row.created_on = now - signin.ABSOLUTE_MS - 1000
    assert signin.principal_for_cookie(alice.store, idle.cookie_value) is None
    assert signin.principal_for_cookie(alice.store, old.cookie_value) is None


@pytest.mark.parametrize("cookie", ["", "x", "a" * 5000, "\udcff" * 30, "' OR 1=1 --" * 3])
def test_unknown_and_hostile_cookies(alice, cookie: str) -> None:  # type: ignore[no-untyped-def]
    assert signin.principal_for_cookie(alice.store, cookie) is None
    assert not signin.csrf_token_ok(alice.store, cookie, signin.csrf_token_for(cookie))


def test_failures_are_rate_limited_per_login_and_audited(alice) -> None:  # type: ignore[no-untyped-def]
    for _ in range(signin.MAX_FAILURES_PER_LOGIN):
        with pytest.raises(signin.SigninRefused) as refused:
            signin.sign_in(alice.store, "alice", "wrong", "10.0.0.9")
        assert refused.value.status == 401
    # Now even the right password is refused, from any address.
    with pytest.raises(signin.SigninRefused) as refused:
        signin.sign_in(alice.store, "alice", PASSWORD, "10.0.0.10")
    assert refused.value.status == 429
    with alice.store.read() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "console sign-in")))
    assert [r.outcome for r in rows].count("error 401") == signin.MAX_FAILURES_PER_LOGIN
    assert [r.outcome for r in rows].count("error 429") == 1
    assert all("wrong" not in str(r.details) and PASSWORD not in str(r.details) for r in rows)


def test_failures_are_rate_limited_per_address(alice) -> None:  # type: ignore[no-untyped-def]
    for n in range(signin.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(signin.SigninRefused):
            signin.sign_in(alice.store, f"nobody{n}", "guess", "10.9.9.9")
    with pytest.raises(signin.SigninRefused) as refused:
        signin.sign_in(alice.store, "alice", PASSWORD, "10.9.9.9")
    assert refused.value.status == 429
    assert signin.sign_in(alice.store, "alice", PASSWORD, "10.0.0.1").login == "alice"


@pytest.mark.parametrize("login", [None, "", "../etc", "a" * 500, 3])
def test_malformed_logins_are_refused(alice, login) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(signin.SigninRefused):
        signin.sign_in(alice.store, login, PASSWORD, "10.0.0.1")


def test_a_user_without_password_cannot_sign_in(alice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(signin.SigninRefused):
        signin.sign_in(alice.store, "admin", "", "10.0.0.1")


def test_sign_ins_show_in_the_users_activity(alice) -> None:  # type: ignore[no-untyped-def]
    """DSS's user activity: the last successful and failed console sign-ins."""
    before = alice.admin.get("/admin/users/alice/activity").json()
    assert not before.get("lastSuccessfulLogin") and not before.get("lastFailedLogin")
    with pytest.raises(signin.SigninRefused):
        signin.sign_in(alice.store, "alice", "wrong password", "10.0.0.3")
    failed = alice.admin.get("/admin/users/alice/activity").json()
    assert failed["lastFailedLogin"] > 0 and not failed.get("lastSuccessfulLogin")
    signin.sign_in(alice.store, "alice", PASSWORD, "10.0.0.3")
    signed = alice.admin.get("/admin/users/alice/activity").json()
    assert signed["lastSuccessfulLogin"] >= failed["lastFailedLogin"]
    assert signed["lastSessionActivity"] >= signed["lastSuccessfulLogin"]
