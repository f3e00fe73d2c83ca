"""Running one cell's SQL on a connection: keep the first rows, count them all, and stop
the database's own work when asked.

Cancelling goes to the database, not just to the thread: PostgreSQL gets a cancel
request for the backend (libpq's cancel, from another thread), SQLite an interrupt plus a
progress handler that stops the virtual machine. The request is repeated until the
statement has returned, so a cancel that lands just before the statement starts is not
lost.

PostgreSQL SELECTs run through a server-side cursor: the first rows are fetched, the rest
are counted on the server with MOVE, and never cross the network. Statements a cursor
cannot hold (DDL, DML, several statements, EXPLAIN ...) run as they are, in libpq's
single-row mode: every row of every result is read one at a time, kept or only counted,
so that no result is ever held whole and each statement runs to its end as typed.

Every PostgreSQL row is read from the socket under a size guard (`_Stream`): a row larger
than the byte budget (plus `ROW_SLACK`) is never read whole. The query is cancelled on the
server and the connection dropped, half read; a SELECT so stopped keeps what it had, with a
`row_count` that is only a lower bound, and any other cell fails saying why.

What is kept is bounded twice: at most `max_rows` rows and at most `max_bytes` bytes of
cell data (as JSON). Rows are fetched in chunks sized from the rows seen so far, so the
server never holds much more than what it keeps; when the byte budget is spent the fetch
stops there, and the row count is the rows read until then (one more than those kept).

SQLite connections are opened confined to their own file (see `sqlite_guard`): each
statement is compiled once with EXPLAIN under the guard before it runs, and a refusal
is a `QueryRefused`, before anything of the cell has run when the guard sees it then.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import select
import socket
import sqlite3
import struct
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from psycopg.adapt import Transformer
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from labkeeper.connections import sqlite_guard
from labkeeper.connections.documents import MASK, POSTGRESQL, SQLITE
from labkeeper.connections.results import Keeper

CANCEL_RETRY_SECONDS = 0.1
CANCEL_RETRY_FOR = 5.0
ROW_SLACK = 1 << 20  # bytes a PostgreSQL row may exceed the byte budget by and still be read


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
    row_count_is_lower_bound: bool = False

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


class RowTooLarge(Exception):
    """A row of the result is larger than a run may hold; it was left half read."""


class _Abandoned(Exception):
    """The connection was left half way through a result: cancel its query, drop it."""

    def __init__(self, outcome: QueryResult | QueryFailed) -> None:
        super().__init__()
        self.outcome = outcome


class _Pump:
    """libpq reads the connection through a socket pair this class fills from the real
    socket, `CHUNK` bytes at a time, only when asked: what libpq can hold towards a result
    is counted exactly, whatever the threads' scheduling (libpq's `PQconsumeInput` reads
    until its socket is empty, and a server sending fast would otherwise fill a huge row in
    one call). The query was sent before the pump is put in place, and libpq writes nothing
    while it reads results; `restore()` gives libpq its socket back."""

    CHUNK = 65536

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.real = os.dup(fd)
        self.ours, theirs = socket.socketpair()
        theirs.setblocking(False)  # libpq expects a socket that never blocks
        os.dup2(theirs.fileno(), fd)
        theirs.close()  # `fd` holds that end now
        self.pumped = 0

    def pump(self) -> None:
        select.select([self.real], [], [])
        try:
            data = os.read(self.real, self.CHUNK)
        except BlockingIOError:
            return
        if not data:
            raise psycopg.OperationalError("the database server closed the connection")
        self.ours.sendall(data)
        self.pumped += len(data)

    def waiting(self) -> int:
        """Bytes pumped that libpq has not read yet."""
        unread = fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", unread)[0]

    def restore(self) -> None:
        os.dup2(self.real, self.fd)
        os.close(self.real)
        self.ours.close()


class _Stream:
    """The results of `sql` (simple protocol: one or several statements) in libpq's
    single-row mode, read one result at a time; at most `max_row_bytes` (plus one
    `_Pump.CHUNK`) reach libpq towards a single result, so a huge row is never held whole
    (past that, `RowTooLarge` is raised: libpq is left mid-message, the connection is only
    good to be dropped)."""

    def __init__(self, pg: psycopg.Connection, sql: str, max_row_bytes: int) -> None:
        self.pg, self.pgconn = pg, pg.pgconn
        self.max_row_bytes = max_row_bytes
        self.tx = Transformer(pg)
        self.loaders_set = False  # for the result set being read
        self.pgconn.send_query(sql.encode(pg.info.encoding))
        self.pgconn.set_single_row_mode()
        while self.pgconn.flush():
            readable, _, _ = select.select([self.pgconn.socket], [self.pgconn.socket], [])
            if readable:
                self.pgconn.consume_input()
        self.pump = _Pump(self.pgconn.socket)

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.pump.restore()

    def next(self) -> pq.abc.PGresult | None:
        """The next result (a row, a statement's end or error), None after the last one."""
        mark = self.pump.pumped
        while self.pgconn.is_busy():
            if not self.pump.waiting():  # libpq reads what it has room for: the rest waits
                if self.pump.pumped - mark > self.max_row_bytes:
                    raise RowTooLarge(self.pump.pumped - mark)
                self.pump.pump()
            self.pgconn.consume_input()
        return self.pgconn.get_result()

    def columns(self, result: pq.abc.PGresult) -> list[dict[str, str]]:
        """The columns of a new result set (whose rows follow)."""
        self.loaders_set = False
        columns = []
        for index in range(result.nfields):
            name = (result.fname(index) or b"").decode(self.pg.info.encoding) or f"column_{index + 1}"
            oid = result.ftype(index)
            info = self.pg.adapters.types.get(oid)
            kind = info.get_type_display(oid=oid, fmod=result.fmod(index)) if info else str(oid)
            columns.append({"name": name, "type": kind})
        return columns

    def row(self, result: pq.abc.PGresult) -> tuple[Any, ...]:
        # The loaders must be set for each result set (the C transformer trusts them).
        self.tx.set_pgresult(result, set_loaders=not self.loaders_set)
        self.loaders_set = True
        return self.tx.load_row(0, tuple)


def _fetcher(pg: psycopg.Connection, name: str, max_row_bytes: int) -> Callable[[int], list[tuple]]:
    """`fetchmany` of the server-side cursor `name`, each row read under the size guard."""

    def fetchmany(size: int) -> list[tuple]:
        fetch = pgsql.SQL("FETCH FORWARD {} FROM {}").format(pgsql.Literal(size), pgsql.Identifier(name))
        rows, error = [], None
        with _Stream(pg, fetch.as_string(pg), max_row_bytes) as stream:
            while (result := stream.next()) is not None:
                if result.status == pq.ExecStatus.SINGLE_TUPLE:
                    rows.append(stream.row(result))
                elif result.status == pq.ExecStatus.FATAL_ERROR:
                    error = error or psycopg.errors.error_from_result(result, encoding=pg.info.encoding)
        if error is not None:
            raise error
        return rows

    return fetchmany


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
    columns = _pg_columns(cursor.description or [])
    try:
        with pg.lock:
            keeper.fill(_fetcher(pg, name, keeper.max_bytes + ROW_SLACK))
    except RowTooLarge:
        keeper.seen += 1  # the row too large to read: there was one, at least
        raise _Abandoned(QueryResult(columns, keeper.rows, keeper.seen, True, 1, True)) from None
    # The rest is counted where it is, and never fetched.
    with pg.cursor() as mover:
        mover.execute(pgsql.SQL("MOVE FORWARD ALL IN {}").format(pgsql.Identifier(name)))
        moved = int((mover.statusmessage or "MOVE 0").split()[-1])
    cursor.close()
    pg.commit()
    return QueryResult(columns, keeper.rows, keeper.seen + moved, True, 1)


def _streamed(pg: psycopg.Connection, sql: str, keeper: Keeper) -> QueryResult:
    """Run `sql` as typed, reading every row of every result one at a time: the last
    result set's first rows are kept, every row is counted, none is held beyond that."""
    pg.autocommit = True
    ended = pq.ExecStatus
    try:
        with pg.lock, _Stream(pg, sql, keeper.max_bytes + ROW_SLACK) as stream:
            result = QueryResult([], [], 0, False, 0)
            columns: list[dict[str, str]] | None = None  # of the result set being read
            error: psycopg.Error | None = None
            while (answer := stream.next()) is not None:
                status = answer.status
                if status == ended.SINGLE_TUPLE:
                    if columns is None:
                        keeper.reset()
                        columns = stream.columns(answer)
                    if keeper.full:
                        keeper.seen += 1  # counted, never converted
                    else:
                        keeper.take([stream.row(answer)])
                elif status == ended.TUPLES_OK:
                    if columns is None:
                        keeper.reset()
                        columns = stream.columns(answer)
                    result = QueryResult(columns, keeper.rows, keeper.seen, True, result.statements + 1)
                    columns = None
                elif status == ended.COMMAND_OK:
                    result.statements += 1
                    if not result.has_result_set:
                        result.row_count = int(answer.command_tuples or 0)
                elif status == ended.FATAL_ERROR:
                    error = error or psycopg.errors.error_from_result(answer, encoding=pg.info.encoding)
                elif status != ended.EMPTY_QUERY:  # COPY from or to the client
                    raise _Abandoned(QueryFailed("COPY from or to the client cannot run in a SQL notebook"))
        if error is not None:
            raise error
        return result
    except RowTooLarge:
        raise _Abandoned(
            QueryFailed(
                f"A row of the result is larger than the {keeper.max_bytes} bytes a run keeps "
                "(sqlNotebooks.maxBytesKept): the cell was cancelled on the database"
            )
        ) from None
    finally:
        if not pg.closed and pg.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
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
    abandoned = False
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
            result = _streamed(pg, sql, keeper)
        return result
    except _Abandoned as exc:
        # Half way through a result: the rest is cancelled on the server, the connection
        # (whose input is mid-row) dropped, never handed to another run.
        abandoned = True
        try:
            pg.cancel_safe(timeout=2.0)
        except psycopg.Error:
            pass
        if canceller.requested.is_set():
            raise QueryCancelled() from None
        if isinstance(exc.outcome, QueryFailed):
            raise exc.outcome from None
        return exc.outcome
    except psycopg.Error as exc:
        if canceller.requested.is_set():
            raise QueryCancelled() from None
        raise QueryFailed(_pg_message(exc)) from None
    finally:
        canceller.detach()
        if canceller.requested.is_set() or abandoned:
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
