"""Two API nodes and two worker nodes on one PostgreSQL database, each with its own data
directory, and (where `ip netns` works) each in its own network namespace: the official
client on both API nodes sees one instance; SQL cells run on the workers; an abort sent to
API node A stops a query running on a worker; a worker killed hard has its task failed
while the other keeps serving."""

from __future__ import annotations

import contextlib

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from labkeeper.futures.queued import NODE_STOPPED
from tests.conftest import ADMIN_KEY, _empty_postgres
from tests.e2e.machines import cluster, netns_possible
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
API = "/dip/publicapi"
MARKER = "lk-e2e-several-machines"
HANG_GUARD = 60.0  # seconds: only a broken cluster gets near it


@pytest.fixture
def pg_url(database_url: str | None) -> str:
    if not database_url:
        pytest.skip("several nodes share a PostgreSQL store (LABKEEPER_TEST_DATABASE_URL)")
    _empty_postgres(database_url)
    return database_url


def task_rows(url: str, job_id: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT state, node, error FROM tasks WHERE id = :id"), {"id": job_id}
            ).one_or_none()
    finally:
        engine.dispose()
    return {} if row is None else {"state": row[0], "node": row[1], "error": row[2]}


def run_state(url: str, job_id: str) -> str | None:
    """The state a SQL cell's run recorded itself (written after its query returned)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT state FROM sql_query_runs WHERE job_id = :id"), {"id": job_id}
            ).scalar_one_or_none()
    finally:
        engine.dispose()


def backend_running(dsn: str, marker: str) -> bool:
    """A backend of the connection marked `marker` busy on pg_sleep (a server-side cursor
    shows the FETCH as its query: the wait event says what it does)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND application_name = %s "
            "AND wait_event = 'PgSleep'",
            (marker,),
        ).fetchall()
    return bool(rows)


def stop_backends(dsn: str, marker: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (marker,)
        )


@pytest.mark.parametrize(
    "isolated",
    [pytest.param(False, id="loopback"), pytest.param(True, id="netns")],
)
def test_two_api_nodes_and_two_workers(pg_url: str, isolated: bool) -> None:
    import dataikuapi

    if isolated and not netns_possible():
        pytest.skip("network namespaces need root and `ip netns`")
    dsn = sa.engine.make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with cluster(isolated, pg_url) as (network, nodes, pg_port):
        a, b = nodes["api-a"], nodes["api-b"]
        dss_a, dss_b = dataikuapi.DSSClient(a.url, ADMIN_KEY), dataikuapi.DSSClient(b.url, ADMIN_KEY)
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http_a = httpx.Client(base_url=a.url + API, headers=auth, timeout=60)
        http_b = httpx.Client(base_url=b.url + API, headers=auth, timeout=60)

        def alive_nodes(http: httpx.Client) -> dict[str, str]:
            return {n["name"]: n["role"] for n in http.get("/admin/nodes").json() if n["alive"]}

        expected = {"api-a": "api", "api-b": "api", "worker-1": "worker", "worker-2": "worker"}
        assert wait_for(lambda: alive_nodes(http_a) == expected, timeout=90), (
            alive_nodes(http_a),
            nodes["worker-1"].output(),
            nodes["worker-2"].output(),
        )
        assert alive_nodes(http_b) == expected

        # One instance through either API node; the password saved through A is decrypted on
        # the workers (the shared instance secret).
        dss_a.create_project("E2E", "Several machines", owner="admin")
        assert "E2E" in [p["projectKey"] for p in dss_b.list_projects()]
        params = {"host": network.gateway, "port": pg_port, "db": sa.engine.make_url(pg_url).database,
                  "user": "postgres", "password": "saved-through-api-a",
                  "properties": [{"name": "application_name", "value": MARKER}]}  # fmt: skip
        dss_a.create_connection("pg", "PostgreSQL", params=params)
        notebook = http_b.post(
            "/projects/E2E/sql-notebooks/",
            json={"connection": "pg", "name": "nb", "cells": [
                {"id": "answer", "type": "QUERY", "name": "answer", "code": "SELECT 41 + 1 AS answer"},
                {"id": "slow", "type": "QUERY", "name": "slow", "code": "SELECT pg_sleep(600)"},
            ]},
        )  # fmt: skip
        assert notebook.status_code == 200, notebook.text
        cells = f"/projects/E2E/sql-notebooks/{notebook.json()['id']}/cells"
        ran = http_b.post(f"{cells}/answer/actions/run", params={"wait": "true"})
        assert ran.status_code == 200, ran.text
        assert ran.json()["result"]["rows"] == [[42]]
        assert task_rows(pg_url, ran.json()["jobId"])["node"] in {"worker-1", "worker-2"}

        # An abort sent to A stops the query on the worker running it: pg_sleep(600) outlives
        # the hang guard, so a backend off its query means cancelled on the server.
        job = http_b.post(f"{cells}/slow/actions/run", params={"wait": "false"}).json()["jobId"]
        assert wait_for(lambda: backend_running(dsn, MARKER), timeout=HANG_GUARD)
        worker = task_rows(pg_url, job)["node"]
        assert worker in {"worker-1", "worker-2"}
        assert job in [f["jobId"] for f in dss_a.list_futures(all_users=True)]
        dss_a.get_future(job).abort()
        assert wait_for(lambda: not backend_running(dsn, MARKER), timeout=HANG_GUARD, interval=0.01)
        assert dss_b.get_future(job).peek_state()["aborted"] is True
        # The run writes its own outcome only once its query has returned on the worker.
        assert wait_for(lambda: run_state(pg_url, job) == "ABORTED", timeout=HANG_GUARD)

        # A worker killed hard: its task fails (nothing of the dead node can end it: another
        # node noticed it stopped), the other worker keeps serving.
        job = http_a.post(f"{cells}/slow/actions/run", params={"wait": "false"}).json()["jobId"]
        assert wait_for(lambda: task_rows(pg_url, job).get("node"), timeout=HANG_GUARD)
        doomed = nodes[task_rows(pg_url, job)["node"]]
        doomed.kill_hard()
        assert wait_for(lambda: task_rows(pg_url, job)["state"] == "FAILED", timeout=90, interval=0.5)
        state = dss_b.get_future(job).peek_state()
        assert state["alive"] is False and NODE_STOPPED in state["error"]
        again = http_a.post(f"{cells}/answer/actions/run", params={"wait": "true"})
        assert again.status_code == 200 and again.json()["result"]["rows"] == [[42]]
        assert task_rows(pg_url, again.json()["jobId"])["node"] != doomed.name
        assert wait_for(lambda: doomed.name not in alive_nodes(http_b), timeout=30, interval=0.5)
        stop_backends(dsn, MARKER)  # what the dead node's query left behind


NB = "/projects/KRN/jupyter-notebooks"
CALL_BACK = """import json, os, urllib.request
request = urllib.request.Request(os.environ["LABKEEPER_URL"] + "/dip/publicapi/auth/info",
                                 headers={"Authorization": "Bearer " + os.environ["LABKEEPER_API_KEY"]})
print(json.load(urllib.request.urlopen(request, timeout=10))["authIdentifier"])"""


def sessions_by_node(url: str) -> dict[str, str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, node FROM jupyter_sessions")).all()
    finally:
        engine.dispose()
    return {row[0]: row[1] for row in rows}


def listing(http: httpx.Client) -> list[tuple[str, str, int]]:
    """The all-notebooks listing, without the values that move on their own (RSS, CPU)."""
    answer = http.get("/admin/notebooks/")
    assert answer.status_code == 200, answer.text
    return sorted(
        (nb["name"], s["sessionId"], s["kernelPid"]) for nb in answer.json() for s in nb["activeSessions"]
    )


def kernel_of(pid: int) -> dict[str, str]:
    """The environment of a kernel process on a worker's machine (root sees every namespace's)."""
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.parametrize(
    "isolated",
    [pytest.param(False, id="loopback"), pytest.param(True, id="netns")],
)
def test_kernels_on_two_workers(pg_url: str, isolated: bool, kernel_runtime: str) -> None:
    import dataikuapi
    import psutil

    from tests.helpers import alive
    from tests.jupyter.helpers import notebook

    if isolated and not netns_possible():
        pytest.skip("network namespaces need root and `ip netns`")
    pids: list[int] = []
    with cluster(isolated, pg_url, kernel_runtime) as (_network, nodes, _pg_port):
        a, b = nodes["api-a"], nodes["api-b"]
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http_a = httpx.Client(base_url=a.url + API, headers=auth, timeout=90)
        http_b = httpx.Client(base_url=b.url + API, headers=auth, timeout=90)
        workers = {"worker-1", "worker-2"}

        def alive_nodes() -> set[str]:
            return {n["name"] for n in http_a.get("/admin/nodes").json() if n["alive"]}

        assert wait_for(lambda: alive_nodes() >= workers, timeout=90), nodes["worker-1"].output()
        dss_a, dss_b = dataikuapi.DSSClient(a.url, ADMIN_KEY), dataikuapi.DSSClient(b.url, ADMIN_KEY)
        dss_a.create_project("KRN", "Kernels on workers", owner="admin")
        try:
            # A notebook saved through A is read through B (the store, no shared folder).
            made = http_a.post(f"{NB}/nb", json=notebook("x = 6 * 7", CALL_BACK))
            assert made.status_code == 200, made.text
            content = dss_b.get_project("KRN").get_jupyter_notebook("nb").get_content()
            assert content.get_cells()[0]["source"] == "x = 6 * 7"

            # Sessions land on both workers, asked through either API node.
            started = [http.post(f"{NB}/nb/sessions") for http in (http_a, http_b)]
            assert [s.status_code for s in started] == [200, 200], [s.text for s in started]
            ids = [s.json()["sessionId"] for s in started]
            pids += [s.json()["kernelPid"] for s in started]
            placed = sessions_by_node(pg_url)
            assert {placed[i] for i in ids} == workers, placed
            # The listing is the same through both API nodes, with the kernels' true pids.
            assert (
                listing(http_a)
                == listing(http_b)
                == sorted(("nb", i, p) for i, p in zip(ids, pids, strict=True))
            )
            # Each kernel calls back to the public URL of the API node that asked for it (behind a
            # load balancer, every API node has the balancer's).
            for sid, pid, api in zip(ids, pids, (a, b), strict=True):
                proc = psutil.Process(pid)
                assert "ipykernel" in " ".join(proc.cmdline())
                env = kernel_of(pid)
                assert env["LABKEEPER_SESSION_ID"] == sid and env["LABKEEPER_URL"] == api.url
            remote = [s for s in dss_b.get_project("KRN").get_jupyter_notebook("nb").get_sessions()]
            assert sorted(s["sessionId"] for s in remote) == sorted(ids)

            # A run on the kernel of worker-2 calls back to the public URL with its session key.
            on_2 = ids[[placed[i] for i in ids].index("worker-2")]
            run = http_b.post(f"{NB}/nb/actions/run", json={"sessionId": on_2}).json()["jobId"]
            assert wait_for(
                lambda: not http_a.get(f"/futures/{run}", params={"peek": "true"}).json()["alive"], 60
            )
            assert task_rows(pg_url, run)["node"] == "worker-2"
            cells = http_b.get(f"{NB}/nb").json()["cells"]
            assert cells[1]["outputs"][0]["text"] == "admin\n", cells[1]["outputs"]

            # Unloaded through A, the kernel on worker-2 is stopped (an idle kernel would run
            # for ever: gone before the hang guard means stopped).
            pid_2 = pids[ids.index(on_2)]
            assert http_a.delete(f"{NB}/nb/sessions/{on_2}").status_code == 200
            assert wait_for(lambda: not alive(pid_2), timeout=HANG_GUARD, interval=0.02)
            assert on_2 not in [s for _, s, _ in listing(http_b)]

            # worker-1 killed hard: its session is forgotten, worker-2 keeps serving.
            on_1 = ids[1 - ids.index(on_2)]
            nodes["worker-1"].kill_hard()
            assert wait_for(lambda: listing(http_b) == [], timeout=40, interval=0.5), listing(http_b)
            again = http_b.post(f"{NB}/nb/sessions")
            assert again.status_code == 200, again.text
            pids.append(again.json()["kernelPid"])
            assert sessions_by_node(pg_url) == {again.json()["sessionId"]: "worker-2"}
            assert on_1 not in sessions_by_node(pg_url)
        finally:
            for pid in pids:  # what the killed worker's machine still runs
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
