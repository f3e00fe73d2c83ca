"""Bounded inputs and results: deep JSON, huge SQL results, slow impersonation regexes."""

from __future__ import annotations

import gc
import os
import threading

import orjson
import psutil
import pytest

from labkeeper.notebooks.sql.models import SqlQueryRun
from labkeeper.settings import impersonation
from labkeeper.settings import service as settings_service
from tests.conftest import Instance
from tests.helpers import wait_for
from tests.security.hostile import hostile, run_sql
from tests.sql.helpers import make_pg_connection, pg_execute

HANG_GUARD = 60.0  # seconds: only an unbounded match or a stalled server gets near it


def _deep(levels: int) -> object:
    value: object = "leaf"
    for index in range(levels):
        value = {"k": value} if index % 2 else [value]
    return value


def _deep_text(levels: int) -> bytes:
    """The JSON text of `_deep(levels)`, for depths no serialiser writes."""
    opens = "".join('{"k":' if index % 2 else "[" for index in reversed(range(levels)))
    closes = "".join("}" if index % 2 else "]" for index in range(levels))
    return f'{opens}"leaf"{closes}'.encode()


def _routes(instance: Instance) -> list:  # type: ignore[type-arg]
    """(client, method, path, body-with-deep-value) of routes storing user documents."""
    mallory = hostile(instance)
    key = mallory.project
    settings = instance.admin.get("/admin/general-settings").json()
    return [
        (instance.admin, "put", "/admin/general-settings", lambda d: {**settings, "extra": d}),
        (instance.admin, "put", "/admin/variables/", lambda d: {"deep": d}),
        (
            mallory.client,
            "put",
            f"/projects/{key}/variables/",
            lambda d: {"standard": {"deep": d}, "local": {}},
        ),
        (
            instance.admin,
            "post",
            "/admin/connections/",
            lambda d: {"name": "deep", "type": "SQLite", "params": {"path": "deep.db", "x": d}},
        ),
        (
            mallory.client,
            "post",
            f"/projects/{key}/sql-notebooks/",
            lambda d: {"connection": "local-sqlite", "name": "nb", "cells": [], "extra": d},
        ),
        (
            mallory.client,
            "post",
            f"/projects/{key}/datasets/",
            lambda d: {"name": "ds", "type": "Inline", "params": {"deep": d}},
        ),
    ]


def test_json_deeper_than_64_levels_is_a_400_on_every_route(instance: Instance) -> None:
    for client, method, path, body in _routes(instance):
        for levels in (65, 300, 5000):
            payload = orjson.dumps(body("__DEEP__")).replace(b'"__DEEP__"', _deep_text(levels))
            answer = getattr(client, method)(
                path, content=payload, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 400, (path, levels, answer.status_code, answer.text[:200])
            assert "64 levels" in answer.json()["message"], (path, answer.text[:200])
    assert instance.admin.get("/admin/general-settings").status_code == 200
    assert instance.admin.get("/admin/variables/").status_code == 200


def test_json_at_the_limit_is_still_accepted(instance: Instance) -> None:
    # 62 levels inside the two levels of {"deep": ...} and the body: 64 in all, then 65.
    assert instance.admin.put("/admin/variables/", json={"deep": _deep(63)}).status_code == 204
    assert instance.admin.get("/admin/variables/").status_code == 200
    assert instance.admin.put("/admin/variables/", json={"deep": _deep(64)}).status_code == 400


def _rss() -> int:
    gc.collect()
    return psutil.Process(os.getpid()).memory_info().rss


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_huge_result_is_bounded_in_memory_and_in_the_store(instance: Instance, kind: str) -> None:
    mallory = hostile(instance)
    if kind == "sqlite":
        connection = "local-sqlite"
        # 320 rows of 1 MB: 320 MB of data, 427 MB as base64 JSON
        sql = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 320) "
            "SELECT i, randomblob(1000000) AS payload FROM n"
        )
    else:
        connection = make_pg_connection(instance, "pg")
        sql = "SELECT i, repeat(md5(i::text), 31250) AS payload FROM generate_series(1, 320) AS i"
    assert run_sql(instance, mallory, "SELECT 1", connection).status_code == 200  # one-time costs
    before = _rss()
    answer = run_sql(instance, mallory, sql, connection)
    grown = _rss() - before
    assert answer.status_code == 200, answer.text[:300]
    result = answer.json()["result"]
    assert result["truncated"] is True and result["rowCount"] > result["rowsKept"]
    kept = len(orjson.dumps(result["rows"]))
    assert kept <= 10_000_000
    assert 5 <= result["rowsKept"] < 320
    with instance.store.read() as s:
        stored = s.query(SqlQueryRun).filter(SqlQueryRun.sql == sql).one()
        assert len(orjson.dumps(stored.rows)) <= 10_000_000
    print(f"RSS growth for a 320 MB {kind} result: {grown / 1e6:.1f} MB")
    assert grown < 120_000_000, f"server memory grew by {grown / 1e6:.0f} MB for a 320 MB result"


def test_max_bytes_kept_is_a_validated_setting_that_bounds_runs(instance: Instance) -> None:
    settings = instance.admin.get("/admin/general-settings").json()
    assert settings["sqlNotebooks"]["maxBytesKept"] == 10_000_000
    for bad in (-1, "10MB", 1.5, True, 10**12):
        settings["sqlNotebooks"]["maxBytesKept"] = bad
        answer = instance.admin.put("/admin/general-settings", json=settings)
        assert answer.status_code == 400 and "maxBytesKept" in answer.json()["message"], answer.text
    settings["sqlNotebooks"]["maxBytesKept"] = 2000
    assert instance.admin.put("/admin/general-settings", json=settings).status_code == 204
    mallory = hostile(instance)
    sql = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
        "SELECT i, hex(zeroblob(50)) FROM n"
    )
    result = run_sql(instance, mallory, sql).json()["result"]
    assert result["truncated"] and 0 < len(orjson.dumps(result["rows"])) <= 2000, result["rowsKept"]


# Patterns that backtrack without bound even in the `regex` engine (which defuses (a+)+b).
SLOW_RULES = [r"(a|a)+b", r"(a|aa)+$", r"(x|x)+y", r"(0|00)+z"]


@pytest.mark.parametrize("pattern", SLOW_RULES)
@pytest.mark.parametrize("field", ["userRules", "groupRules"])
def test_a_backtracking_impersonation_rule_is_refused_at_save(
    instance: Instance, pattern: str, field: str
) -> None:
    settings = instance.admin.get("/admin/general-settings").json()
    subject = "dssUser" if field == "userRules" else "dssGroup"
    settings["impersonation"][field] = [
        {"type": "REGEXP_RULE", "ruleFrom": r"(.*)_ok", "targetUnix": "$1"},
        {"type": "REGEXP_RULE", "ruleFrom": pattern, "targetUnix": "nobody", subject: None},
    ]
    # The save returning at all is the proof its check is bounded (the pattern alone would
    # backtrack for ever): a thread joined with a hang guard, then the refusal it answered.
    answers: list = []
    saving = threading.Thread(
        target=lambda: answers.append(instance.admin.put("/admin/general-settings", json=settings)),
        daemon=True,
    )
    saving.start()
    saving.join(HANG_GUARD)
    assert not saving.is_alive(), "the save never ended: the rule's check is unbounded"
    [answer] = answers
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert f"impersonation.{field}[1]" in message and "ruleFrom" in message, message


def test_resolution_of_a_slow_stored_rule_is_bounded_and_never_blocks_the_server(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance.make_user("a" * 40 + "c", ["plain"])
    instance.make_user("bob_ok", ["plain"])
    settings = instance.admin.get("/admin/general-settings").json()
    # stored as an older version would have accepted it, past today's validation
    settings["impersonation"]["userRules"] = [
        {"type": "REGEXP_RULE", "ruleFrom": r"(.*)_ok", "targetUnix": "$1_unix"},
        {"type": "REGEXP_RULE", "ruleFrom": r"(a|a)+b", "targetUnix": "nobody"},
    ]
    with monkeypatch.context() as patch:
        patch.setattr(settings_service, "validate_general_settings", lambda _doc: None)
        assert instance.admin.put("/admin/general-settings", json=settings).status_code == 204
    # The slow rule's match is held (then run for real, with the time it was given) until a
    # cheap GET has answered: the GET answering while a rule is being matched proves the
    # matching does not block the server. Proved by state, not by timing the GET.
    matching, release = threading.Event(), threading.Event()
    held_until_released: list[bool] = []  # False: the guard let go before the GET answered
    real_fullmatch = impersonation.rule_fullmatch

    def held_fullmatch(pattern: str, subject: str, *, timeout: float):  # type: ignore[no-untyped-def]
        if pattern == r"(a|a)+b":
            matching.set()
            held_until_released.append(release.wait(HANG_GUARD))
        return real_fullmatch(pattern, subject, timeout=timeout)

    monkeypatch.setattr(impersonation, "rule_fullmatch", held_fullmatch)
    answers: dict[str, object] = {}

    def resolve() -> None:
        answers["slow"] = instance.admin.get("/admin/impersonation/resolve", params={"user": "a" * 40 + "c"})

    slow = threading.Thread(target=resolve, daemon=True)
    slow.start()
    try:
        assert matching.wait(HANG_GUARD), "the slow rule was never matched"
        assert instance.admin.get("/admin/variables/").status_code == 200
        still_matching = not release.is_set() and held_until_released == [] and "slow" not in answers
    finally:
        release.set()
    assert still_matching, "the server stalled while a rule was being matched"
    slow.join(timeout=HANG_GUARD)
    assert not slow.is_alive(), "resolution did not end"
    assert held_until_released == [True]
    answer = answers["slow"]
    assert answer.status_code == 400, answer.text  # type: ignore[attr-defined]
    assert "impersonation.userRules[1]" in answer.json()["message"]  # type: ignore[attr-defined]
    monkeypatch.undo()
    ok = instance.admin.get("/admin/impersonation/resolve", params={"user": "bob_ok"})
    assert ok.status_code == 200 and ok.json()["unixUser"] == "bob_unix", ok.text


def _peak_rss_growth(call):  # type: ignore[no-untyped-def]
    """`call()`'s answer and how far the server's RSS rose above its level before, at peak
    (sampled every 5 ms: memory freed at the end does not hide what was held)."""
    process = psutil.Process(os.getpid())
    before = _rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        answer = call()
    finally:
        done.set()
        sampler.join()
    return answer, max(peak[0], _rss()) - before


def _pg_backends(run_id: str) -> list[tuple]:
    return pg_execute(
        f"SELECT pid, state FROM pg_stat_activity WHERE application_name = 'labkeeper-sqlrun-{run_id}'"
    )


def test_a_multi_statement_postgresql_cell_is_streamed_within_the_bounds(instance: Instance) -> None:
    mallory = hostile(instance)
    connection = make_pg_connection(instance, "pg")
    sql = "SELECT 1; SELECT i, repeat('x', 1000000) AS payload FROM generate_series(1, 400) AS i"
    assert run_sql(instance, mallory, "SELECT 1; SELECT 2", connection).status_code == 200
    answer, grown = _peak_rss_growth(lambda: run_sql(instance, mallory, sql, connection))
    assert answer.status_code == 200, answer.text[:300]
    result = answer.json()["result"]
    assert result["truncated"] is True and 5 <= result["rowsKept"] < 400, result["rowsKept"]
    print(f"RSS growth for a 400 MB multi-statement result: {grown / 1e6:.1f} MB")
    assert grown < 120_000_000, f"server memory grew by {grown / 1e6:.0f} MB for a 400 MB result"
    assert result["rowCount"] == 400 and result["rowCountIsLowerBound"] is False
    assert len(orjson.dumps(result["rows"])) <= 10_000_000
    assert all(state != "active" for _pid, state in _pg_backends(result["id"]))
    again = run_sql(instance, mallory, "SELECT 41 + 1; SELECT 'still usable'", connection)
    assert again.json()["result"]["rows"] == [["still usable"]], again.text[:300]


@pytest.mark.parametrize(
    ("sql", "state"),
    [
        ("SELECT 7 AS n, repeat('x', 300000000) AS huge", "DONE"),
        ("SELECT 1; SELECT repeat('x', 300000000) AS huge", "FAILED"),
    ],
)
def test_a_single_huge_postgresql_value_is_never_read_whole(instance: Instance, sql: str, state: str) -> None:
    mallory = hostile(instance)
    connection = make_pg_connection(instance, "pg")
    assert run_sql(instance, mallory, "SELECT 1; SELECT 2", connection).status_code == 200
    answer, grown = _peak_rss_growth(lambda: run_sql(instance, mallory, sql, connection))
    print(f"RSS growth for a 300 MB value: {grown / 1e6:.1f} MB")
    assert grown < 100_000_000, f"server memory grew by {grown / 1e6:.0f} MB for a 300 MB value"
    with instance.store.read() as s:
        run = s.query(SqlQueryRun).filter(SqlQueryRun.sql == sql).one()
        assert run.state == state, (run.state, run.error)
        run_id = run.id
    if state == "DONE":
        result = answer.json()["result"]
        assert result["truncated"] is True and result["rowCountIsLowerBound"] is True
        assert result["rowsKept"] == 0 and result["rowCount"] == 1
        assert [c["name"] for c in result["columns"]] == ["n", "huge"]
    else:
        assert "larger than" in run.error, run.error
    # Its backend stops once the answer is refused: waited for, never timed.
    assert wait_for(lambda: all(s != "active" for _p, s in _pg_backends(run_id)), timeout=HANG_GUARD), (
        "the query still runs"
    )
    again = run_sql(instance, mallory, "SELECT 'still usable'", connection)
    assert again.json()["result"]["rows"] == [["still usable"]], again.text[:300]
