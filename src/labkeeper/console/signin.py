"""Signing in to the console (and to anything else served to browsers, such as /lab).

A sign-in is a row of `console_sessions` behind an opaque cookie (`COOKIE_NAME`): 256 random
bits, of which the store keeps only a SHA-256. Every request checks the row against the user
as it is now, in one read: the user still exists and is enabled, their password is the one
signed in with (`password_mark`), and neither the idle nor the absolute lifetime has passed.
So `/logout`, a password change, disabling or deleting the user end the session at once.

What a session grants is exactly what a personal API key of the same user grants: the same
`Principal`, built from the user's groups by `auth/authenticate.py`.

State-changing requests made with the cookie must carry `csrf_token_for(cookie)`; it is
derived from the cookie value, which a page of another site can neither read nor guess.

Failed sign-ins are kept (`signin_failures`) and counted per login and per address: past
`MAX_FAILURES_PER_LOGIN` / `MAX_FAILURES_PER_ADDRESS` within `FAILURE_WINDOW_MS` every
attempt is refused, even with the right password, until the window has passed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from labkeeper.audit.service import record_event
from labkeeper.auth.authenticate import principal_from_groups, read_user_groups
from labkeeper.auth.models import User
from labkeeper.auth.passwords import MAX_PASSWORD_LENGTH, hash_password, verify_password
from labkeeper.auth.principal import Principal
from labkeeper.console.models import ConsoleSession, SigninFailure
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest
from labkeeper.names import MAX_NAME_LENGTH, check_name

COOKIE_NAME = "labkeeper_session"
IDLE_MS = 2 * 3600 * 1000  # a session unused this long is over
ABSOLUTE_MS = 12 * 3600 * 1000  # and none lasts longer than this
LAST_SEEN_RESOLUTION_MS = 60_000  # the idle clock is moved at most once a minute
FAILURE_WINDOW_MS = 15 * 60 * 1000
MAX_FAILURES_PER_LOGIN = 5
MAX_FAILURES_PER_ADDRESS = 20
SESSION_KEY_KIND = "PERSONAL"  # a session acts as its user, with a personal key's rights


_SESSION_BY_HASH = (
    "SELECT s.login, s.password_mark, s.created_on, s.last_seen_on, u.enabled, u.password_hash"
    " FROM console_sessions s JOIN users u ON u.login = s.login WHERE s.id_hash = :h"
)


class SigninRefused(Exception):
    """A sign-in that did not succeed; `message` is safe to show (it never says which part was wrong)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SignedIn:
    cookie_value: str
    login: str


@functools.cache
def _unknown_user_hash() -> str:
    """Verified when the login is unknown, so that the answer takes as long as for a known one."""
    return hash_password(secrets.token_urlsafe(16))


def _digest(cookie_value: str) -> str:
    return hashlib.sha256(b"labkeeper-session\0" + cookie_value.encode("utf-8", "surrogatepass")).hexdigest()


def _password_mark(password_hash: str | None) -> str:
    return hashlib.sha256(b"labkeeper-password\0" + (password_hash or "").encode()).hexdigest()


def csrf_token_for(cookie_value: str) -> str:
    """The CSRF token of a session: pages put it in every state-changing form."""
    return hashlib.sha256(b"labkeeper-csrf\0" + cookie_value.encode("utf-8", "surrogatepass")).hexdigest()


def _plausible(cookie_value: object) -> bool:
    return isinstance(cookie_value, str) and 20 <= len(cookie_value) <= 100


def principal_for_cookie(store: Store, cookie_value: str) -> Principal | None:
    """Who a session cookie signs in, or None when it is unknown, expired or ended."""
    if not _plausible(cookie_value):
        return None
    digest = _digest(cookie_value)
    with store.raw_reader() as query:
        rows = query(_SESSION_BY_HASH, {"h": digest})
    if not rows:
        return None
    login, mark, created_on, last_seen_on, enabled, password_hash = rows[0]
    now = now_ms()
    if (
        not enabled
        or not hmac.compare_digest(mark, _password_mark(password_hash))
        or now - created_on > ABSOLUTE_MS
        or now - last_seen_on > IDLE_MS
    ):
        return None
    found = read_user_groups(store, login)
    if found is None or not found[0]:
        return None
    _enabled, groups, group_rows = found
    if now - last_seen_on > LAST_SEEN_RESOLUTION_MS:
        with store.begin() as s:
            s.execute(update(ConsoleSession).where(ConsoleSession.id_hash == digest).values(last_seen_on=now))
    return principal_from_groups(
        login=login,
        groups=groups,
        group_rows=group_rows,
        key_admin=False,
        key_id=f"console-{digest[:8]}",
        kind=SESSION_KEY_KIND,
    )


def csrf_token_ok(store: Store, cookie_value: str, token: str) -> bool:
    """Whether `token` is the CSRF token of a live session behind `cookie_value`."""
    if not isinstance(token, str) or not _plausible(cookie_value):
        return False
    if not hmac.compare_digest(token.encode(), csrf_token_for(cookie_value).encode()):
        return False
    return principal_for_cookie(store, cookie_value) is not None


def _audit(store: Store, login: str, outcome: str, address: str, action: str = "console sign-in") -> None:
    record_event(
        store,
        user=login[:100],
        action=action,
        target=login[:100],
        outcome=outcome,
        details={"address": address},
    )


def sign_in(store: Store, login: object, password: object, address: str) -> SignedIn:
    """Check a login and password, within the rate limits, and open a session. Blocking
    (a password hash costs tens of milliseconds): call it off the event loop."""
    address = address[:64]
    try:
        login = check_name("user login", login)
    except BadRequest:
        login = None
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_LENGTH:
        password = None
    shown = login or "(not a login)"
    now = now_ms()
    since = now - FAILURE_WINDOW_MS
    with store.read() as s:
        by_address = s.scalar(
            select(func.count()).where(SigninFailure.address == address, SigninFailure.time >= since)
        )
        by_login = 0
        if login is not None:
            by_login = s.scalar(
                select(func.count()).where(SigninFailure.login == login, SigninFailure.time >= since)
            )
        user = s.get(User, login) if login is not None else None
        stored_hash = user.password_hash if user is not None else None
        enabled = bool(user is not None and user.enabled)
    if by_login >= MAX_FAILURES_PER_LOGIN or by_address >= MAX_FAILURES_PER_ADDRESS:
        _record_failure(store, login or "", address, now)
        _audit(store, shown, "error 429", address)
        raise SigninRefused("Too many failed sign-ins: wait a few minutes before trying again", status=429)
    ok = verify_password(password or "", stored_hash if stored_hash else _unknown_user_hash())
    if not (ok and enabled and password and stored_hash):
        _record_failure(store, (login or "")[:MAX_NAME_LENGTH], address, now)
        _audit(store, shown, "error 401", address)
        raise SigninRefused("Wrong login or password, or the user is disabled", status=401)
    cookie_value = secrets.token_urlsafe(32)
    with store.begin() as s:
        s.execute(delete(ConsoleSession).where(ConsoleSession.created_on < now - ABSOLUTE_MS))
        s.execute(delete(SigninFailure).where(SigninFailure.time < since))
        s.add(
            ConsoleSession(
                id_hash=_digest(cookie_value),
                login=login,
                password_mark=_password_mark(stored_hash),
                address=address,
                created_on=now,
                last_seen_on=now,
            )
        )
    _audit(store, login, "success", address)
    return SignedIn(cookie_value, login)


def _record_failure(store: Store, login: str, address: str, now: int) -> None:
    with store.begin() as s:
        s.add(SigninFailure(time=now, login=login, address=address))


def end_session(store: Store, cookie_value: str) -> str | None:
    """Sign out: the session's row goes, so the cookie signs nobody in again. Returns its login."""
    if not _plausible(cookie_value):
        return None
    digest = _digest(cookie_value)
    with store.begin() as s:
        row = s.get(ConsoleSession, digest)
        if row is None:
            return None
        login = row.login
        s.delete(row)
    record_event(store, user=login, action="console sign-out", target=login)
    return login
