"""Running one cell's SQL on a connection: keep the first rows, count them all, and stop
the database's own work when asked.

Cancelling goes to the database, not just to the thread: PostgreSQL gets a cancel
request for the backend (libpq's cancel, from another thread), SQLite an interrupt plus a
progress handler that stops the virtual machine. The request is repeated until the
statement has returned, so a cancel that lands just before the statement starts is not
lost.

PostgreSQL SELECTs run through a server-side cursor: the first rows are fetched, the rest
are counted on the server with MOVE, and never cross the network. Statements a cursor
cannot hold (DDL, DML, several statements, EXPLAIN ...) run as they are.

What is kept is bounded twice: at most `max_rows` rows and at most `max_bytes` bytes of
cell data (as JSON). Rows are fetched in chunks sized from the rows seen so far, so the
server never holds much more than what it keeps; when the byte budget is spent the fetch
stops there, and the row count is the rows read until then (one more than those kept).

SQLite connections are opened confined to their own file (see `sqlite_guard`): each
statement is compiled once with EXPLAIN under the guard before it runs, and a refusal
is a `QueryRefused`, before anything of the cell has run when the guard sees it then.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from labkeeper.connections import sqlite_guard
from labkeeper.connections.documents import MASK, POSTGRESQL, SQLITE
from labkeeper.connections.results import Keeper

CANCEL_RETRY_SECONDS = 0.1
CANCEL_RETRY_FOR = 5.0


class QueryFailed(Exception):
    """The database refused or failed the statement; the message is the database's own."""


class QueryRefused(QueryFailed):
    """The statement would reach beyond the connection's own database: nothing was run."""


class QueryCancelled(Exception):
    """The statement was stopped by a cancel request."""


@dataclass
class QueryResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    row_count: int
    has_result_set: bool
    statements: int

    @property
    def truncated(self) -> bool:
        return self.has_result_set and self.row_count > len(self.rows)


@dataclass
class Canceller:
    """Links a cancel request (from any thread) to the statement running now."""

    requested: threading.Event = field(default_factory=threading.Event)
    _cancel: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, cancel: Callable[[], None]) -> None:
        with self._lock:
            self._cancel = cancel
        if self.requested.is_set():
            raise QueryCancelled()

    def detach(self) -> None:
        with self._lock:
            self._cancel = None

    def request(self) -> None:
        self.requested.set()
        if self._fire():
            threading.Thread(target=self._repeat, name="sql-cancel", daemon=True).start()

    def _fire(self) -> bool:
        with self._lock:
            cancel = self._cancel
            if cancel is None:
                return False
            try:
                cancel()
            except Exception:  # noqa: BLE001 - the connection may be closing: nothing to stop
                return False
        return True

    def _repeat(self) -> None:
        deadline = time.monotonic() + CANCEL_RETRY_FOR
        while time.monotonic() < deadline:
            time.sleep(CANCEL_RETRY_SECONDS)
            if not self._fire():
                return


DEFAULT_MAX_BYTES = 10_000_000


def run_query(
    engine: Engine,
    kind: str,
    sql: str,
    *,
    max_rows: int,
    canceller: Canceller,
    password: str = "",
    max_bytes: int = DEFAULT_MAX_BYTES,
    session_name: str = "",
    on_session: Callable[[dict[str, Any]], None] | None = None,
) -> QueryResult:
    """`session_name` / `on_session` (PostgreSQL): the query's backend is named so (its
    `application_name`, unless the connection sets one) and `on_session({backendPid,
    applicationName, backendStart})` is called before it runs, so that a later process can
    find the query again and stop it."""
    try:
        if kind == SQLITE:
            return _run_sqlite(engine, sql, Keeper(max_rows, max_bytes), canceller)
        if kind == POSTGRESQL:
            return _run_postgresql(
                engine, sql, Keeper(max_rows, max_bytes), canceller, session_name, on_session
            )
    except QueryFailed as exc:
        message = str(exc)
        if password and password in message:
            raise QueryFailed(message.replace(password, MASK)) from None
        raise
    raise ValueError(f"unsupported connection type {kind!r}")


# ---- SQLite -----------------------------------------------------------------------------


def split_sqlite(sql: str) -> list[str]:
    """Statements of a script, split where SQLite itself sees a complete statement."""
    statements: list[str] = []
    pieces = sql.split(";")
    current = ""
    for index, piece in enumerate(pieces):
        current += piece
        if index == len(pieces) - 1:
            break
        current += ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\r\n;"):
                statements.append(current)
            current = ""
    if current.strip():
        statements.append(current)
    return statements


_SQLITE_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}


def _sqlite_columns(description: Sequence[Sequence[Any]], rows: list[tuple]) -> list[dict[str, str]]:
    columns = []
    for index, column in enumerate(description):
        sample = next((row[index] for row in rows if row[index] is not None), None)
        kind = _SQLITE_TYPES.get(type(sample), "") if sample is not None else ""
        columns.append({"name": column[0], "type": kind})
    return columns


def vet_sqlite(engine: Engine, sql: str) -> None:
    """Refuse (QueryRefused) a script whose statements the guard denies, running nothing.
    Statements that cannot be compiled before the earlier ones ran are checked when run."""
    raw = _connect(engine)
    db: sqlite_guard.GuardedConnection = raw.driver_connection  # type: ignore[assignment]
    try:
        for statement in split_sqlite(sql):
            sqlite_guard.vet(db, statement)
    except sqlite_guard.Refused as exc:
        raise QueryRefused(str(exc)) from None
    finally:
        raw.close()


def _run_sqlite(engine: Engine, sql: str, keeper: Keeper, canceller: Canceller) -> QueryResult:
    statements = split_sqlite(sql)
    raw = _connect(engine)
    db: sqlite_guard.GuardedConnection = raw.driver_connection  # type: ignore[assignment]
    try:
        db.isolation_level = None  # each statement commits on its own, as typed
        db.set_progress_handler(lambda: 1 if canceller.requested.is_set() else 0, 10_000)
        canceller.attach(db.interrupt)
        result = QueryResult([], [], 0, False, len(statements))
        for statement in statements:
            sqlite_guard.vet(db, statement)
            cursor = db.execute(statement)
            if cursor.description is None:
                if not result.has_result_set:
                    result.row_count = max(cursor.rowcount, 0)
                continue
            keeper.reset()
            if keeper.fill(cursor.fetchmany) and not keeper.out_of_bytes:
                keeper.count_rest(cursor.fetchmany)
            cursor.close()
            result = QueryResult(
                _sqlite_columns(cursor.description, keeper.raw),
                keeper.rows,
                keeper.seen,
                True,
                len(statements),
            )
            keeper.raw = []
        return result
    except sqlite_guard.Refused as exc:
        raise QueryRefused(str(exc)) from None
    except sqlite3.Error as exc:
        if canceller.requested.is_set():
            raise QueryCancelled() from None
        refusal = db.guard.refusal()
        if refusal is not None:
            raise QueryRefused(str(refusal)) from None
        raise QueryFailed(str(exc)) from None
    finally:
        canceller.detach()
        try:
            db.set_progress_handler(None, 0)
        finally:
            raw.close()


# ---- PostgreSQL -----------------------------------------------------------------------


def _pg_columns(description: Sequence[Any]) -> list[dict[str, str]]:
    return [{"name": column.name, "type": column.type_display} for column in description]


def _pg_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    message = diag.message_primary or str(exc).strip()
    if diag.message_detail:
        message += f"\nDETAIL: {diag.message_detail}"
    if diag.message_hint:
        message += f"\nHINT: {diag.message_hint}"
    if diag.sqlstate:
        message = f"{message} (SQLSTATE {diag.sqlstate})"
    return message


def _with_cursor(pg: psycopg.Connection, sql: str, keeper: Keeper) -> QueryResult | None:
    """Run `sql` through a server-side cursor; None when it is not a cursor query."""
    name = f"labkeeper_{secrets.token_hex(6)}"
    pg.autocommit = False
    cursor = pg.cursor(name=name)
    try:
        cursor.execute(sql)  # BEGIN; DECLARE: parsed and planned, nothing run yet
    except psycopg.Error:
        pg.rollback()
        return None  # DDL, DML, several statements, or a real error: the plain run says which
    keeper.reset()
    keeper.fill(cursor.fetchmany)
    columns = _pg_columns(cursor.description or [])
    moved = 0
    if not keeper.out_of_bytes:  # the rest is counted where it is, and never fetched
        with pg.cursor() as mover:
            mover.execute(pgsql.SQL("MOVE FORWARD ALL IN {}").format(pgsql.Identifier(name)))
            moved = int((mover.statusmessage or "MOVE 0").split()[-1])
    cursor.close()
    pg.commit()
    return QueryResult(columns, keeper.rows, keeper.seen + moved, True, 1)


def _plain(pg: psycopg.Connection, sql: str, keeper: Keeper) -> QueryResult:
    pg.autocommit = True
    try:
        cursor = pg.cursor()
        cursor.execute(sql)
        result = QueryResult([], [], 0, False, 0)
        while True:
            result.statements += 1
            if cursor.description is not None:
                keeper.reset()
                keeper.fill(cursor.fetchmany)
                result = QueryResult(
                    _pg_columns(cursor.description),
                    keeper.rows,
                    max(cursor.rowcount, keeper.seen),
                    True,
                    result.statements,
                )
            elif not result.has_result_set:
                result.row_count = max(cursor.rowcount, 0)
            if not cursor.nextset():
                break
        cursor.close()
        return result
    finally:
        pg.autocommit = False


def _connect(engine: Engine) -> Any:
    try:
        return engine.raw_connection()
    except sqlite_guard.Refused as exc:
        raise QueryRefused(str(exc)) from None
    except (sa_exc.DBAPIError, psycopg.Error, sqlite3.Error) as exc:
        cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
        raise QueryFailed(f"Cannot connect to the database: {str(cause).strip()}") from None


_NAME_SESSION = """
SELECT CASE WHEN current_setting('application_name') = 'labkeeper'
            THEN set_config('application_name', %s, false)
            ELSE current_setting('application_name') END,
       pg_backend_pid(),
       (SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid())
"""


def _name_session(pg: psycopg.Connection, name: str) -> dict[str, Any]:
    """Name the backend `name` (until DISCARD ALL, see _settle) unless the connection's
    properties chose an application_name; what identifies the backend."""
    pg.autocommit = True  # outside a transaction, so that no rollback undoes it
    try:
        row = pg.execute(_NAME_SESSION, (name,)).fetchone()
    finally:
        pg.autocommit = False
    assert row is not None
    return {"applicationName": row[0], "backendPid": int(row[1]), "backendStart": row[2] or ""}


def _run_postgresql(
    engine: Engine,
    sql: str,
    keeper: Keeper,
    canceller: Canceller,
    session_name: str = "",
    on_session: Callable[[dict[str, Any]], None] | None = None,
) -> QueryResult:
    raw = _connect(engine)
    pg: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        canceller.attach(lambda: pg.cancel_safe(timeout=2.0))
        if session_name:
            session = _name_session(pg, session_name)
            if on_session is not None:
                on_session(session)
        result = _with_cursor(pg, sql, keeper)
        if result is None:
            if canceller.requested.is_set():
                raise QueryCancelled()
            result = _plain(pg, sql, keeper)
        return result
    except psycopg.Error as exc:
        if canceller.requested.is_set():
            raise QueryCancelled() from None
        raise QueryFailed(_pg_message(exc)) from None
    finally:
        canceller.detach()
        if canceller.requested.is_set():
            # A late cancel could still reach this backend: never hand it to another run.
            raw.invalidate()
        else:
            _settle(pg)
            raw.close()


def _settle(pg: psycopg.Connection) -> None:
    """Hand the connection back as new: the next run may be another user's, so a cell's
    SET, temporary tables or prepared statements must not follow it."""
    try:
        if not pg.closed:
            pg.rollback()
            pg.autocommit = True
            pg.execute("DISCARD ALL")
            pg.autocommit = False
    except psycopg.Error:
        pass
