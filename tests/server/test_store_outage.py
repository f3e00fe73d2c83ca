"""The store going away is an answer, not a crash: 503 + Retry-After on the same keep-alive
connection, one log line down and one back, /healthz alive and /readyz not ready, and
service again without a restart. PostgreSQL refusing connections; SQLite's file removed."""

from __future__ import annotations

import dataclasses
import http.client
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labkeeper.config import Config
from labkeeper.db import Store
from labkeeper.db.migrate import upgrade
from tests.conftest import ADMIN_KEY, LiveServer

PG_URL = os.environ.get("LABKEEPER_TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class StoreLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def store_log() -> Iterator[StoreLog]:
    handler = StoreLog()
    logger = logging.getLogger("labkeeper.store")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class KeptConnection:
    """One HTTP/1.1 connection; fails the test if the server ever closes it."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()
        self.sock = self.conn.sock

    def get(self, path: str, key: str | None = ADMIN_KEY) -> tuple[int, dict, bytes]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.conn.request("GET", path, headers=headers)
        answer = self.conn.getresponse()
        body = answer.read()
        assert self.conn.sock is self.sock, "the server closed the keep-alive connection"
        return answer.status, dict(answer.getheaders()), body

    def close(self) -> None:
        self.conn.close()


def assert_unavailable(connection: KeptConnection, path: str) -> None:
    import orjson

    status, headers, body = connection.get(path)
    assert status == 503, (path, status, body)
    assert int(headers["retry-after"]) > 0
    doc = orjson.loads(body)
    assert doc["errorType"] == "ServiceUnavailable" and doc["message"] and doc["detailedMessage"]


def outage_and_recovery(server: LiveServer, store_log: StoreLog, go_down, come_back) -> None:  # type: ignore[no-untyped-def]
    connection = KeptConnection(server.port)
    try:
        assert connection.get("/dip/publicapi/projects/")[0] == 200
        assert connection.get("/readyz", key=None)[0] == 200
        go_down()
        for _ in range(5):
            for path in ("/dip/publicapi/projects/", "/dip/publicapi/current-user", "/public/api/futures/"):
                assert_unavailable(connection, path)
        assert connection.get("/healthz", key=None)[0] == 200
        status, headers, _ = connection.get("/readyz", key=None)
        assert status == 503 and "retry-after" in headers
        come_back()
        assert connection.get("/readyz", key=None)[0] == 200
        assert connection.get("/dip/publicapi/projects/")[0] == 200
        assert connection.get("/dip/publicapi/current-user")[0] == 200
    finally:
        connection.close()
    assert [line for line in store_log.lines if "store is down" in line].__len__() == 1, store_log.lines
    assert [line for line in store_log.lines if "store is back" in line].__len__() == 1, store_log.lines


def test_postgresql_refusing_connections(tmp_path: Path, store_log: StoreLog) -> None:
    base = sa.engine.make_url(PG_URL)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"lk_outage_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        pytest.skip("no PostgreSQL at " + PG_URL)
    url = base.set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    upgrade(store.engine)
    store.dispose()

    def refuse() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )

    def allow() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    config = Config(
        data_dir=tmp_path / "data", database_url=url, bootstrap_admin_key=ADMIN_KEY, background=False
    )
    try:
        with LiveServer(config) as server:
            outage_and_recovery(server, store_log, refuse, allow)
    finally:
        allow()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_sqlite_file_removed_then_restored(config: Config, store_log: StoreLog) -> None:
    """SQLite is unreachable when its file is gone: the server must neither create a fresh
    empty one nor keep writing into the removed file."""
    if not config.is_sqlite:
        pytest.skip("SQLite only")
    config = dataclasses.replace(config, background=False)
    database = config.data_dir / "labkeeper.db"
    away = config.data_dir / "labkeeper.db.away"
    with LiveServer(config) as server:
        outage_and_recovery(server, store_log, lambda: database.rename(away), lambda: away.rename(database))
        assert not away.exists()
