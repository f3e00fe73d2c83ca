"""When each user last called the API, started a notebook session, signed in, or failed to.

Activity is written as a side effect of other requests (a read with an API key moves the
last API call), so its table moves a change stamp of its own, `activity` (migration 0022),
under which only the two activity reads keep their answers (server/answers.py): a read that
writes activity never throws away any other kept answer.

- last API call: written with the key's last-used time (auth/authenticate.py), so it has the
  same resolution (LAST_USED_RESOLUTION_MS, a minute); a call made through a personal,
  session or impersonating global key counts for that key's user;
- last session start: a Jupyter notebook session started for the user;
- last successful / failed login, last session activity: written by the web console's
  sign-in through `record_login` and `record_session_activity`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from labkeeper.auth.models import User, UserActivity
from labkeeper.db import Store, now_ms
from labkeeper.errors import NotFound

_COLUMNS = {
    "lastSuccessfulLogin": "last_successful_login",
    "lastFailedLogin": "last_failed_login",
    "lastSessionActivity": "last_session_activity",
    "lastApiCall": "last_api_call",
    "lastSessionStart": "last_session_start",
}
_KNOWN_COLUMNS = frozenset(_COLUMNS.values())

# Upserts: the user's row may not exist yet. The SELECT form skips keys with no user
# (a global key acting as itself has no activity of its own).
_TOUCH_BY_KEY = text(
    "INSERT INTO user_activity (login, last_api_call)"
    " SELECT user_login, :now FROM api_keys WHERE id = :key_id AND user_login IS NOT NULL"
    " ON CONFLICT (login) DO UPDATE SET last_api_call = excluded.last_api_call"
)


def _upsert(column: str) -> Any:
    assert column in _KNOWN_COLUMNS
    return text(
        f"INSERT INTO user_activity (login, {column})"
        f" SELECT login, :now FROM users WHERE login = :login"
        f" ON CONFLICT (login) DO UPDATE SET {column} = excluded.{column}"
    )


def api_calls_statement() -> Any:
    """The statement `touch_keys` runs with its (key_id, now) parameters, in its transaction."""
    return _TOUCH_BY_KEY


def _record(store: Store, column: str, login: str, when: int | None) -> None:
    with store.engine.begin() as conn:
        conn.execute(_upsert(column), {"login": login, "now": when or now_ms()})


def record_login(store: Store, login: str, *, success: bool, when: int | None = None) -> None:
    """A console sign-in of `login`, successful or not (blocking: call off the event loop).
    An unknown login records nothing."""
    _record(store, "last_successful_login" if success else "last_failed_login", login, when)


def record_session_activity(store: Store, login: str, when: int | None = None) -> None:
    """The user opened or refreshed a console session (blocking)."""
    _record(store, "last_session_activity", login, when)


def note_session_start(s: Session, login: str, when: int) -> None:
    """A notebook session started for the user, in the transaction that records it."""
    s.execute(_upsert("last_session_start"), {"login": login, "now": when})


def _doc(login: str, row: UserActivity | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"login": login}
    for name, column in _COLUMNS.items():
        doc[name] = getattr(row, column) if row is not None else None
    return doc


def list_activity(store: Store, *, enabled_only: bool) -> list[dict[str, Any]]:
    query = select(User.login, UserActivity).outerjoin(UserActivity, UserActivity.login == User.login)
    if enabled_only:
        query = query.where(User.enabled.is_(True))
    with store.read() as s:
        return [_doc(login, row) for login, row in s.execute(query.order_by(User.login))]


def user_activity(store: Store, login: str) -> dict[str, Any]:
    with store.read() as s:
        if s.get(User, login) is None:
            raise NotFound(f"User {login!r} does not exist")
        return _doc(login, s.get(UserActivity, login))
