"""Request ids on every answer and in audit rows, JSON logs that headers and paths cannot
forge, and one line for a repeated error."""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import threading

import httpx
import orjson
import pytest

from labkeeper.config import Config
from labkeeper.server.request_path import _RequestIds
from labkeeper.settings import service as settings_service
from tests.conftest import ADMIN_KEY, Instance, LiveServer
from tests.helpers import wait_for
from tests.server.test_store_outage import KeptConnection

HEX_ID = re.compile(r"[0-9a-f]{16}")


def test_every_answer_has_a_request_id_and_a_sane_one_is_kept(instance: Instance) -> None:
    answers = [
        instance.admin.get("/projects/"),
        instance.admin.get("/no/such/route"),
        instance.client("wrong-key-0123456789").get("/current-user"),
        instance.http.get("/healthz"),
        instance.admin.put("/admin/variables/", content=b"x" * (instance.config.max_body_bytes + 1)),
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(HEX_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
    kept = instance.admin.get("/projects/", headers={"X-Request-Id": "lb-7f3a.2:9_x"})
    assert kept.headers["x-request-id"] == "lb-7f3a.2:9_x"
    for hostile in ('{"level":"CRITICAL"}', "a b", "x" * 65, "é", ""):
        answer = instance.admin.get("/projects/", headers={"X-Request-Id": hostile.encode("utf-8")})
        assert HEX_ID.fullmatch(answer.headers["x-request-id"]), hostile


def test_new_request_ids_never_repeat_in_a_process_across_its_threads_or_a_fork() -> None:
    ids = _RequestIds()
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.extend(ids.new() for _ in range(5000))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(HEX_ID.fullmatch(i) for i in made) and len(set(made)) == len(made) == 20_000
    ids._count = itertools.count(_RequestIds.LIMIT)  # the counter's last id, then a new prefix
    last, after = ids.new(), ids.new()
    assert HEX_ID.fullmatch(after) and after[:8] != last[:8]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child draws a prefix of its own
        os.write(write, ids.new().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    os.close(read)
    assert HEX_ID.fullmatch(from_child) and from_child[:8] != ids.new()[:8]


def test_the_audit_row_carries_the_request_id(instance: Instance) -> None:
    assert (
        instance.admin.put(
            "/admin/variables/", json={"a": 1}, headers={"X-Request-Id": "trace-42"}
        ).status_code
        == 204
    )
    answer = instance.admin.put("/admin/variables/", json={"a": 2})
    event, previous = instance.admin.get("/admin/audit", params={"limit": 2}).json()
    assert previous["requestId"] == "trace-42" and previous["action"] == "PUT /admin/variables/"
    assert event["requestId"] == answer.headers["x-request-id"]


@pytest.fixture
def json_server(config: Config):  # type: ignore[no-untyped-def]
    with LiveServer(
        dataclasses.replace(config, log_format="json", access_log=True, background=False)
    ) as server:
        yield server


def test_json_logs_cannot_be_forged_by_headers_or_paths(json_server: LiveServer, capfd) -> None:  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=json_server.url, headers=auth) as client:
        client.get('/dip/publicapi/projects/%0A{"level":"CRITICAL"}', headers={"X-Request-Id": "a\tb"})
        client.get(
            "/dip/publicapi/nothing%0D%0Afake line", headers={"X-DKU-ProxyUser": "bob\u2028x".encode()}
        )
        client.get("/dip/publicapi/current-user", headers={"X-Request-Id": "ok-1"})
    err: list[str] = []
    # the line of a request is written just after its answer: wait until the third is there
    wait_for(lambda: err.append(capfd.readouterr().err) or "".join(err).count("labkeeper.access") >= 3)
    lines = "".join(err).splitlines()
    # labkeeper's lines are JSON objects (uvicorn's own start-up lines are the test server's)
    docs = [orjson.loads(line) for line in lines if line.startswith("{")]
    assert not any("fake line" in line or line.startswith('{"level"') for line in lines)
    access = [d for d in docs if d["logger"] == "labkeeper.access"]
    assert len(access) == 3
    assert {d["route"] for d in access} == {"/projects/{key}", "unmatched", "/current-user"}
    for doc in access:
        assert set(doc) >= {
            "time",
            "level",
            "logger",
            "message",
            "requestId",
            "user",
            "route",
            "status",
            "durationMs",
        }
        assert doc["level"] == "INFO" and "CRITICAL" not in doc["message"] and "fake" not in doc["message"]
    assert access[0]["requestId"] != "a\tb" and HEX_ID.fullmatch(access[0]["requestId"])
    assert access[2]["requestId"] == "ok-1" and access[2]["user"] == "admin" and access[2]["status"] == 200


def test_a_repeated_error_is_logged_once_and_keeps_the_connection(
    config: Config,
    capfd,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    def broken(_store):  # type: ignore[no-untyped-def]
        raise RuntimeError("the variables document is unreadable")

    monkeypatch.setattr(settings_service, "get_instance_variables", broken)
    with LiveServer(dataclasses.replace(config, background=False)) as server:
        connection = KeptConnection(server.port)
        for _ in range(50):
            status, _headers, body = connection.get("/dip/publicapi/admin/variables/")
            assert status == 500 and orjson.loads(body)["errorType"] == "InternalError"
        assert connection.get("/dip/publicapi/projects/")[0] == 200
        connection.close()
    err = capfd.readouterr().err
    assert err.count("unexpected error") == 1, err
    assert err.count("the variables document is unreadable") <= 2  # the traceback's last line
