"""Engine and transactions for SQLite (embedded default) and PostgreSQL.

Services open their transactions with `with store.begin() as s:` (and `store.read()` for
reads). Outside a request, the block commits when it ends and rolls back on any exception.

Inside a state-changing request the request path opens a *unit of work* (`store.unit()`,
server/units.py) and every `begin()`/`read()` of that request's thread joins it: the
blocks share one session and one transaction, a `begin()` block is a SAVEPOINT (a block
that fails undoes only itself, as a transaction of its own would), and the request path
adds the audit row and commits once, before the answer is sent. So an acknowledged change
always has its audit row and a failed request leaves neither. Work handed to another
thread or task does not join: it sees only what is committed, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, MetaData, event
from sqlalchemy.engine import URL, Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool

from labkeeper.db.batch import LoopBatch
from labkeeper.db.health import StoreHealth, StoreUnavailable, describe, is_unreachable
from labkeeper.db.shared_read import SharedRead
from labkeeper.db.writer_lock import WriterLock

log = logging.getLogger("labkeeper")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict: JSON, list: JSON}


_READ_STAMPS = "SELECT topic, value FROM change_stamps"
# A stamp is its row plus its deltas on PostgreSQL (db/stamps.py explains why).
_READ_STAMPS_POSTGRESQL = (
    "SELECT topic, CAST(sum(value) AS BIGINT) FROM ("
    " SELECT topic, value FROM change_stamps"
    " UNION ALL SELECT topic, count(*) FROM change_stamp_deltas GROUP BY topic"
    ") AS counted GROUP BY topic"
)


SQLITE_BUSY_SECONDS = 10


def now_ms() -> int:
    return int(time.time() * 1000)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.close()


def _release_after_transactions(engine: Engine, writers: WriterLock) -> None:
    """Give the writer lock back once the transaction that took it has ended: after its
    COMMIT or ROLLBACK has run (so SQLite's own lock is free when the next writer gets this
    one), or when its connection is closed or thrown away."""
    dialect = engine.dialect

    def after(step: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(connection: Any) -> None:
            try:
                step(connection)
            finally:
                writers.release_for(getattr(connection, "dbapi_connection", connection))

        return run

    dialect.do_commit = after(dialect.do_commit)  # type: ignore[method-assign]
    dialect.do_rollback = after(dialect.do_rollback)  # type: ignore[method-assign]
    dialect.do_close = after(dialect.do_close)  # type: ignore[method-assign]

    @event.listens_for(engine, "invalidate")
    def _invalidated(dbapi_connection, _record, _exception):  # type: ignore[no-untyped-def]
        writers.release_for(dbapi_connection)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)

        # pysqlite's own BEGIN handling defers locking; take the write lock at BEGIN so two
        # writers never deadlock half-way through a transaction.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            if conn.get_execution_options().get("labkeeper_readonly", False):
                conn.exec_driver_sql("BEGIN")
                return
            if writers is None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            raw = conn.connection.dbapi_connection
            writers.acquire_for(raw)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writers.release_for(raw)
                raise

        path = _sqlite_file(url)
        writers = WriterLock(path) if path is not None else None
        if writers is not None:
            _release_after_transactions(engine, writers)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    return create_engine(url, poolclass=NullPool)


class UnitOfWork:
    """The one transaction of a state-changing request (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.thread = threading.get_ident()
        self.session: Session | None = None
        self.after: list[Callable[[], object]] = []
        self.undone: list[Callable[[], object]] = []  # run if the unit ends uncommitted
        self.committed = False
        self.wrote = False  # a begin() block of the unit has completed (see Store.begin)

    def open(self) -> Session:
        """The unit's session, its transaction begun (on SQLite: the write lock taken)."""
        if self.session is None:
            self.session = self.store._sessions()
            self.session.begin()
        return self.session

    def roll_back(self) -> None:
        """Undo the whole transaction (the unit has written nothing yet); the next block
        begins a new one."""
        session, self.session = self.session, None
        if session is not None:
            session.close()

    def commit(self) -> None:
        if self.session is not None:
            self.session.commit()
        self.committed = True  # from here on, the thread's transactions are its own again
        after, self.after = self.after, []
        for call in after:
            call()

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.close()  # rolls back whatever was not committed
        undone, self.undone = ([] if self.committed else self.undone), []
        for call in undone:  # the unit's lock is released: each makes its own transaction
            try:
                call()
            except Exception:  # the request's own error is what its caller must see
                log.exception("a write made after a rolled-back request failed")


_UNIT: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar("labkeeper_unit", default=None)


class _AsyncReader:
    """The change-stamp reads of one event loop, on a PostgreSQL connection of their own.

    The statement is prepared once per connection, and a read is one send and one receive on
    libpq (`psycopg.pq`), the socket watched by the loop only while a read waits. psycopg's
    async `execute` made a cursor, took its locks and ran its generators on every read: about
    60 us of CPU a read against 40-46 this way (bench/stamp_reads.py), for reads a loaded
    server makes about a thousand times a second. A read cut short (the loop shutting down)
    or failed closes the connection: the next read opens a new one, never reading the answer
    of an earlier statement."""

    STATEMENT = "labkeeper_read_stamps"

    def __init__(self, url: URL) -> None:
        self._conninfo = url.render_as_string(hide_password=False)
        self._connection: Any = None

    async def stamps(self) -> dict[str, int]:
        import psycopg

        try:
            return await self._read()
        except psycopg.OperationalError:  # e.g. the server restarted: once more, on a new connection
            self.close()
            return await self._read()

    async def _read(self) -> dict[str, int]:
        if self._connection is None:
            await self._open()
        pg = self._connection.pgconn
        try:
            pg.send_query_prepared(self.STATEMENT.encode(), None)
            while pg.flush():  # a non-blocking connection: what the socket did not take yet
                await _socket_ready(pg.socket, write=True)
            pg.consume_input()
            while pg.is_busy():
                await _socket_ready(pg.socket)
                pg.consume_input()
            return _stamps_of(pg)
        except BaseException:
            self.close()
            raise

    async def _open(self) -> None:
        import psycopg

        connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        try:
            await connection.execute(f"PREPARE {self.STATEMENT} AS {_READ_STAMPS_POSTGRESQL}")
        except BaseException:
            connection.pgconn.finish()
            raise
        connection.pgconn.nonblocking = 1
        self._connection = connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.pgconn.finish()  # what AsyncConnection.close() does, callable from any thread


async def _socket_ready(fd: int, *, write: bool = False) -> None:
    """Until the socket `fd` can be read (or written), on the running loop."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _stamps_of(pg: Any) -> dict[str, int]:
    """The rows of the stamp read that `pg` has received, or its error raised as psycopg's."""
    import psycopg
    from psycopg import pq

    stamps: dict[str, int] | None = None
    error: Exception | None = None
    while (result := pg.get_result()) is not None:
        if result.status == pq.ExecStatus.TUPLES_OK:
            stamps = {
                result.get_value(row, 0).decode(): int(result.get_value(row, 1))
                for row in range(result.ntuples)
            }
        elif error is None:
            message = (
                (result.error_message or pg.error_message or b"no answer").decode(errors="replace").strip()
            )
            sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
            try:
                kind = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.OperationalError
            except KeyError:
                kind = psycopg.DatabaseError
            error = kind(message)
    if error is not None:
        raise error
    if stamps is None:
        raise psycopg.OperationalError(pg.error_message.decode(errors="replace").strip() or "no answer")
    return stamps


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (None for an in-memory database)."""
    path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
    path = path.removeprefix("file:")
    return path if path and path != ":memory:" else None


class Store:
    """The one gateway to the database used by every service.

    `serving=True` (a server's store): a SQLite file is opened, never created, and checked
    on every request (see `stamps`), so that a removed database file is an outage (503)
    rather than a fresh empty database or writes into a deleted file.
    """

    def __init__(self, url: str, *, serving: bool = False) -> None:
        self.url = url
        self.health = StoreHealth()
        self._sqlite_path = _sqlite_file(url) if url.startswith("sqlite") and serving else None
        self._sqlite_identity = self._file_identity()
        if self._sqlite_path is not None:  # open read-write, never create
            url = f"sqlite:///file:{self._sqlite_path}?mode=rw&uri=true"
        self.engine = make_engine(url)
        # Per-process caches of derived data, each validated against the store on use.
        self.cache: dict[str, Any] = {}
        # raw_reader's connections: one per thread, in autocommit mode.
        self._hot = threading.local()
        self._hot_lock = threading.Lock()
        self._hot_all: list[Any] = []
        # request_stamps on PostgreSQL: one shared read and one async connection per loop.
        self._shared_stamps: weakref.WeakKeyDictionary[Any, SharedRead] = weakref.WeakKeyDictionary()
        self._last_shared_stamps: tuple[Any, Any] = (None, None)  # (loop, its SharedRead): the common case
        self._async_readers: list[_AsyncReader] = []
        # request_stamps on SQLite: one read per batch of arrived requests (db/batch.py).
        self._batches = LoopBatch()
        self._last_stamps: dict[str, int] = {}  # the last stamps read (_same_if_unchanged)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; on SQLite its transactions start with a plain (shared) BEGIN.
        self.reader = self.engine.execution_options(labkeeper_readonly=True)
        self._readers = sessionmaker(self.reader, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def begin(self, *, alone: bool = True) -> Iterator[Session]:
        """A read-write transaction: committed at the end of the block, else rolled back.
        In a request's unit of work: a savepoint of the unit's transaction, so that a block
        that fails undoes only itself; with `alone=False`, a block whose failure fails the
        whole request (the audit row), which needs no savepoint."""
        unit = self._joined_unit()
        if unit is None:
            with self._sessions() as session, session.begin():
                yield session
            return
        session = unit.open()
        if not unit.wrote or not alone:
            # Nothing written in the unit yet: undoing this block alone is undoing the whole
            # transaction, so no SAVEPOINT is needed (one round trip and flush fewer).
            try:
                yield session
                session.flush()
            except BaseException:
                unit.roll_back()
                raise
            unit.wrote = True
            return
        with session.begin_nested():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (no write lock on SQLite). In a request's unit of work,
        its session, so that the request reads its own writes."""
        unit = self._joined_unit()
        if unit is not None:
            yield unit.open()
            return
        with self._readers() as session, session.begin():
            yield session

    @contextmanager
    def unit(self) -> Iterator[UnitOfWork]:
        """Open the unit of work of a request on this thread. The caller commits it
        (`unit.commit()`); whatever is not committed when the block ends is rolled back."""
        unit = UnitOfWork(self)
        token = _UNIT.set(unit)
        try:
            yield unit
        finally:
            _UNIT.reset(token)
            unit.close()

    def after_commit(self, call: Callable[[], object]) -> None:
        """Call `call()` once what was written so far is committed: now outside a unit of
        work, after the unit's commit inside one (e.g. work that other threads must see)."""
        unit = self._joined_unit()
        if unit is None:
            call()
        else:
            unit.after.append(call)

    def after_rollback(self, call: Callable[[], object]) -> None:
        """Call `call()` in a transaction of its own once the request's unit of work ends
        without committing (now, outside a unit): a write that stands whatever the request's
        outcome, such as forgetting a refused upload."""
        unit = self._joined_unit()
        if unit is None:
            call()
        else:
            unit.undone.append(call)

    def _joined_unit(self) -> UnitOfWork | None:
        unit = _UNIT.get()
        if unit is None or unit.store is not self or unit.committed or unit.thread != threading.get_ident():
            return None
        return unit

    @contextmanager
    def raw_reader(self) -> Iterator[Callable[[str, dict[str, Any] | None], list[tuple]]]:
        """Plain SELECTs on a bare DB-API connection, for the per-request hot path.

        SQLAlchemy's statement, result and pool machinery costs several times the indexed
        read it wraps. Here each query is SQL text with `:name` parameters, run as is, in
        autocommit mode, so each SELECT sees the latest committed data. On an event loop's
        thread (where requests are served) the connection is kept for that thread; other
        threads borrow one from the pool. Use `begin()` / `read()` everywhere else.
        """
        if not _on_event_loop():
            pooled = self.engine.raw_connection()
            try:
                yield self._querying(pooled.cursor())
            finally:
                pooled.close()  # back to the pool, which rolls back whatever the driver began
            return
        yield self._hot_query()

    def stamps(self) -> dict[str, int]:
        """Every topic's change stamp, in one read (see db/stamps.py). Read on every request."""
        if self._sqlite_path is not None:
            self._check_sqlite_file()
        sql = _READ_STAMPS if self.is_sqlite else _READ_STAMPS_POSTGRESQL
        if _on_event_loop():  # raw_reader's kept connection, without its context manager
            return dict(self._hot_query()(sql))
        with self.raw_reader() as query:
            return dict(query(sql))

    def fold_stamp_deltas(self) -> None:
        """PostgreSQL: fold the change stamps' delta rows into their counters (db/stamps.py);
        no stamp changes value. Blocking; call off the event loop."""
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("SELECT labkeeper_fold_stamp_deltas()")

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._sqlite_path) if self._sqlite_path else None
        except OSError:
            return None
        return (info.st_dev, info.st_ino) if info else None

    def _check_sqlite_file(self) -> None:
        """A removed database file is an outage; a replaced one (a restore) is reopened."""
        identity = self._file_identity()
        if identity is None:
            raise StoreUnavailable(f"the database file {self._sqlite_path} is missing")
        if identity != self._sqlite_identity:
            self._close_connections()  # connections still read the file that was replaced
            self._sqlite_identity = identity

    async def request_stamps(self) -> dict[str, int]:
        """The stamps for a request being served, read after it arrived.

        SQLite answers in microseconds, so the read is made at once, and shared by the
        requests that had already arrived when it was made (`_sqlite_batch_stamps`). A
        PostgreSQL read is a network round trip: the requests waiting at the same time share
        one read, made on an async connection of the event loop's own (db/shared_read.py),
        and the loop serves others meanwhile instead of blocking on the round trip.
        The stamps returned are shared: never modify them.
        """
        try:
            stamps = self._sqlite_batch_stamps() if self.is_sqlite else await self._shared_stamps_read()
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            self.health.failed(exc)
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(describe(exc)) from exc
        self.health.succeeded()
        return stamps

    def _same_if_unchanged(self, stamps: dict[str, int]) -> dict[str, int]:
        """The last stamps read while nothing changed, so that what is derived from them stays
        valid; compared once a read, not once a request."""
        last = self._last_stamps
        if stamps == last:
            return last
        self._last_stamps = stamps
        return stamps

    def _sqlite_batch_stamps(self) -> dict[str, int]:
        """One SQLite read (and file check) for every request that arrived before it
        (db/batch.py): each costs a file check, a WAL read lock and a query, some 20 us a
        request in a real server, more than all the rest of a kept answer."""
        return self._batches.get("stamps", self._read_sqlite_stamps)

    def _read_sqlite_stamps(self) -> dict[str, int]:
        if self._sqlite_path is not None:
            self._check_sqlite_file()
        return self._same_if_unchanged(dict(self._hot_query()(_READ_STAMPS)))  # the loop's kept connection

    async def _shared_stamps_read(self) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        last_loop, shared = self._last_shared_stamps
        if last_loop is not loop:
            shared = self._shared_stamps.get(loop)
            if shared is None:
                connection = _AsyncReader(self.engine.url.set(drivername="postgresql"))
                with self._hot_lock:
                    self._async_readers.append(connection)

                async def read() -> dict[str, int]:
                    return self._same_if_unchanged(await connection.stamps())

                shared = self._shared_stamps[loop] = SharedRead(read)
            self._last_shared_stamps = (loop, shared)
        return await shared.read()

    def _querying(self, cursor: Any) -> Callable[..., list[tuple]]:
        convert = None if self.is_sqlite else self._postgres_params

        def query(sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
            cursor.execute(convert(sql) if convert else sql, params or {})
            return cursor.fetchall()

        return query

    def _hot_query(self) -> Callable[..., list[tuple]]:
        """This thread's kept connection, cursor and query function, made on first use."""
        query = getattr(self._hot, "query", None)
        if query is None:
            pooled = self.engine.raw_connection()
            connection = pooled.driver_connection
            pooled.detach()  # ours from now on: the pool neither resets nor reuses it
            if not self.is_sqlite:  # SQLite's is already in autocommit (see make_engine)
                connection.autocommit = True
            with self._hot_lock:
                self._hot_all.append(connection)
            run = self._querying(connection.cursor())

            def query(sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
                try:
                    return run(sql, params)
                except Exception:  # e.g. the server restarted: once more, on a new connection
                    self._drop_hot_connection()
                    self._hot_query()
                    return self._hot.run(sql, params)

            self._hot.connection, self._hot.run, self._hot.query = connection, run, query
        return query

    def _drop_hot_connection(self) -> None:
        connection = getattr(self._hot, "connection", None)
        self._hot.connection = self._hot.run = self._hot.query = None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    @staticmethod
    @functools.cache
    def _postgres_params(sql: str) -> str:
        return re.sub(r"(?<!:):([A-Za-z_]\w*)", r"%(\1)s", sql.replace("%", "%%"))

    def dispose(self) -> None:
        self._close_connections()

    def _close_connections(self) -> None:
        with self._hot_lock:
            for reader in self._async_readers:
                reader.close()
            self._async_readers.clear()
            for connection in self._hot_all:
                with contextlib.suppress(Exception):
                    connection.close()
            self._hot_all.clear()
        self._hot = threading.local()
        self._batches.clear()
        self.engine.dispose()
