"""A project writer's SQL on a SQLite connection reaches only that connection's file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from labkeeper.notebooks.sql.models import SqlQueryRun
from tests.conftest import Instance
from tests.security.hostile import Mallory, hostile, is_admin_group, run_sql


@pytest.fixture
def mallory(instance: Instance) -> Mallory:
    return hostile(instance)


def _store_file(instance: Instance) -> Path:
    """The store's database file, or (on PostgreSQL) another instance file to aim at."""
    data_dir = instance.config.data_dir
    store = data_dir / "labkeeper.db"
    if store.exists():
        return store
    target = data_dir / "secrets" / "canary"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("instance secret")
    return target


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _refused(answer, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert {"errorType", "message", "detailedMessage"} <= body.keys()
    assert "not allowed" in body["message"] or "Refused" in body["message"], body
    for word in words:
        assert word.lower() in body["message"].lower(), body


ESCALATIONS = [
    "ATTACH DATABASE '{store}' AS st; UPDATE st.groups SET admin=1 WHERE name='mallory_team'",
    "attach '{store}' as st; update st.groups set admin=1 where name='mallory_team'",
    "AtTaCh /* hidden */ DATABASE\n\t'{store}'   AS st",
    "-- a comment first\nATTACH '{store}' AS st",
    "SELECT 1; ATTACH '{store}' AS st",
    "ATTACH 'file:{store}?mode=rw' AS st",
    "ATTACH 'file:{store}?vfs=unix-none' AS st",
    "ATTACH (SELECT '{store}') AS st",
    "WITH x AS (SELECT 1) SELECT * FROM x; ATTACH '{store}' AS st",
    "DETACH DATABASE main",
    "DETACH temp",
]


@pytest.mark.parametrize("template", ESCALATIONS)
def test_attach_in_any_spelling_is_refused_and_nothing_runs(
    instance: Instance, mallory: Mallory, template: str
) -> None:
    target = _store_file(instance)
    before = _digest(target)
    answer = run_sql(instance, mallory, "CREATE TABLE ran_first(x);\n" + template.format(store=target))
    _refused(answer, "ATTACH" if "attach" in template.lower() else "DETACH")
    assert not is_admin_group(instance, mallory.group)
    assert _digest(target) == before
    # nothing of the cell ran: the statement before the refused one did not create its table
    check = run_sql(instance, mallory, "SELECT count(*) FROM sqlite_master WHERE name = 'ran_first'")
    assert check.status_code == 200 and check.json()["result"]["rows"] == [[0]], check.text


@pytest.mark.parametrize(
    "template",
    [
        "VACUUM INTO '{out}'",
        "vacuum main into '{out}'",
        "VACUUM INTO 'file:{out}?mode=rwc'",
        "ATTACH '{out}' AS created",
    ],
)
def test_no_sql_creates_a_file_as_the_server_account(
    instance: Instance, mallory: Mallory, tmp_path: Path, template: str
) -> None:
    out = tmp_path / "exfiltrated.db"
    answer = run_sql(instance, mallory, template.format(out=out))
    _refused(answer)
    assert not out.exists()
    assert not list(tmp_path.glob("exfiltrated*"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')",
        "select LOAD_EXTENSION('libm')",
        "SELECT fts3_tokenizer('simple')",
        "SELECT fts3_tokenizer('evil', x'4141414141414141')",
        "PRAGMA writable_schema = 1",
        "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'x'",
        "PRAGMA journal_mode = WAL",
        "pragma JOURNAL_MODE=off",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA data_store_directory = '/tmp'",
        "PRAGMA mmap_size = 268435456",
        "PRAGMA trusted_schema = 1",
        "PRAGMA query_only = 0",
        "PRAGMA soft_heap_limit = 1",
        "PRAGMA hard_heap_limit = 1",
        "PRAGMA threads = 8",
        "PRAGMA synchronous = OFF",
        "PRAGMA locking_mode = EXCLUSIVE",
        "PRAGMA schema_version = 1",
        "PRAGMA main.max_page_count = 1",
        "PRAGMA cell_size_check = OFF",
        "PRAGMA ignore_check_constraints = 1",
        "PRAGMA secure_delete = OFF",
        "PRAGMA wal_checkpoint",
        "PRAGMA shrink_memory",
    ],
)
def test_process_and_file_reaching_statements_are_refused(
    instance: Instance, mallory: Mallory, sql: str
) -> None:
    _refused(run_sql(instance, mallory, sql))


def test_a_statement_only_compilable_at_run_time_is_refused_then(
    instance: Instance, mallory: Mallory
) -> None:
    # The second statement names a table the first creates, so it is checked when it runs:
    # the run is recorded FAILED with the refusal, and the caller's input gets a 400.
    sql = "CREATE TABLE late_t(x); SELECT load_extension('libm') FROM late_t"
    answer = run_sql(instance, mallory, sql)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errorType"] == "BadRequestException", body
    assert "Refused SQL: " in body["message"] and "load_extension() is not allowed" in body["message"]
    job = _last_job(instance, sql)
    status = mallory.client.get(f"/futures/{job}")
    assert status.status_code == 400 and status.json() == body, status.text
    peek = mallory.client.get(f"/futures/{job}", params={"peek": "true"})
    assert peek.status_code == 200 and peek.json()["state"] == "FAILED", peek.text


@pytest.mark.parametrize(
    ("sql", "words"),
    [("SELEC 1", "syntax error"), ("SELECT * FROM no_such_table", "no such table")],
)
def test_ordinary_database_errors_stay_failed_futures(
    instance: Instance, mallory: Mallory, sql: str, words: str
) -> None:
    answer = run_sql(instance, mallory, sql)
    assert answer.status_code == 500, answer.text
    assert answer.json()["errorType"] == "FutureFailedException" and words in answer.json()["message"]
    status = mallory.client.get(f"/futures/{_last_job(instance, sql)}")
    assert status.status_code == 500 and status.json()["errorType"] == "FutureFailedException"


def _last_job(instance: Instance, sql: str) -> str:
    with instance.store.read() as s:
        return s.query(SqlQueryRun).filter(SqlQueryRun.sql == sql).one().job_id


def test_harmless_sql_still_works_and_attach_stays_impossible(instance: Instance, mallory: Mallory) -> None:
    setup = run_sql(
        instance,
        mallory,
        "CREATE TABLE ok_t(a INTEGER PRIMARY KEY, b TEXT); INSERT INTO ok_t VALUES (1, 'x')",
    )
    assert setup.status_code == 200, setup.text
    for sql in (
        "PRAGMA table_info(ok_t)",
        "SELECT name FROM pragma_table_info('ok_t')",
        "PRAGMA foreign_keys = ON",
        "PRAGMA index_list(ok_t)",
        "PRAGMA integrity_check",
        "PRAGMA user_version",
    ):
        answer = run_sql(instance, mallory, sql)
        assert answer.status_code == 200, (sql, answer.text)
    _refused(run_sql(instance, mallory, "ATTACH ':memory:' AS scratch"))


def _admin_connection(instance: Instance, name: str, path: str):  # type: ignore[no-untyped-def]
    return instance.admin.post(
        "/admin/connections/", json={"name": name, "type": "SQLite", "params": {"path": path}}
    )


def test_connection_paths_outside_the_sql_folder_are_refused_at_save(instance: Instance) -> None:
    data_dir = instance.config.data_dir
    target = _store_file(instance)
    sql_dir = data_dir / "sql"
    sql_dir.mkdir(parents=True, exist_ok=True)
    (sql_dir / "to_store.db").symlink_to(target)
    (sql_dir / "to_data_dir").symlink_to(data_dir)
    os.link(target, sql_dir / "hard.db")
    for index, path in enumerate(
        [
            "../labkeeper.db",
            str(target),
            "file:local.db?mode=rw",
            "local.db?vfs=unix-none",
            "file:../labkeeper.db",
            "to_store.db",
            "to_data_dir/labkeeper.db",
            "hard.db",
            "sub/../../labkeeper.db",
        ]
    ):
        answer = _admin_connection(instance, f"bad{index}", path)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["errorType"] and answer.json()["message"], answer.text


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_placed_after_saving_is_refused_at_run(instance: Instance, link: str) -> None:
    mallory = hostile(instance)
    target = _store_file(instance)
    before = _digest(target)
    assert _admin_connection(instance, "late", "late.db").status_code == 200
    sql_dir = instance.config.data_dir / "sql"
    sql_dir.mkdir(parents=True, exist_ok=True)
    if link == "symlink":
        (sql_dir / "late.db").symlink_to(target)
    else:
        os.link(target, sql_dir / "late.db")
    answer = run_sql(instance, mallory, "UPDATE groups SET admin = 1 WHERE name = 'mallory_team'", "late")
    assert answer.status_code == 400, answer.text
    assert any(w in answer.json()["message"] for w in ("instance", "hard links", "'sql' folder")), answer.text
    assert not is_admin_group(instance, mallory.group)
    assert _digest(target) == before
