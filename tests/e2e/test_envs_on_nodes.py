"""Code envs on several worker nodes, each with its own data directory: a kernel of an env
lands on a worker that never built it, which builds it first (once for concurrent starts) and
runs it; a failed build there answers its error; deleting the env removes it from every node.
Node labels pin a project's kernels. A worker restarted while a start waits for it takes the
start once it can run it."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from tests.codeenvs.conftest import index_settings, wheelhouse  # noqa: F401 - a fixture
from tests.conftest import ADMIN_KEY
from tests.e2e.machines import Node, cluster
from tests.e2e.test_several_machines import API, pg_url, sessions_by_node  # noqa: F401 - fixture
from tests.helpers import assert_error, wait_for
from tests.jupyter.helpers import notebook

pytestmark = pytest.mark.e2e
NB = "/projects/ENV/jupyter-notebooks"
ENV = "/admin/code-envs/PYTHON"
KERNEL = "py-dku-venv-lkenv"


def query(url: str, sql: str, **params: object) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params).all()]
    finally:
        engine.dispose()


def holders(http: httpx.Client, env: str) -> dict[str, str]:
    answer = http.get(f"{ENV}/{env}")
    assert answer.status_code == 200, answer.text
    return {n["name"]: n["state"] for n in answer.json()["nodes"]}


def run_cells(http: httpx.Client, session_id: str, notebook_name: str) -> list[dict]:
    ran = http.post(f"{NB}/{notebook_name}/actions/run", json={"sessionId": session_id})
    assert ran.status_code == 200, ran.text
    job = ran.json()["jobId"]
    assert wait_for(lambda: not http.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"], 90)
    return http.get(f"{NB}/{notebook_name}").json()["cells"]


def drain(http: httpx.Client, name: str, draining: bool) -> None:
    answer = http.post(f"/admin/nodes/{name}/{'drain' if draining else 'undrain'}")
    assert answer.status_code == 200, answer.text


def test_envs_built_on_first_use_labels_and_a_restarted_worker(
    pg_url: str,  # noqa: F811 - the fixture
    kernel_runtime: str,
    wheelhouse: Path,  # noqa: F811 - the fixture
) -> None:
    pids: list[int] = []
    extra = {"worker-1": ["--label", "gpu", "--label", "big"]}
    with cluster(False, pg_url, kernel_runtime, extra) as (_network, nodes, _pg_port):
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http = httpx.Client(base_url=nodes["api-a"].url + API, headers=auth, timeout=120)
        workers = {"worker-1", "worker-2"}
        try:
            assert wait_for(
                lambda: {n["name"] for n in http.get("/admin/nodes").json() if n["alive"]} >= workers, 90
            ), nodes["worker-1"].output()
            labels = {n["name"]: n["labels"] for n in http.get("/admin/nodes").json()}
            assert labels["worker-1"] == ["gpu", "big"] and labels["worker-2"] == []

            settings = http.get("/admin/general-settings").json()
            settings["codeEnvs"].update(index_settings(wheelhouse))
            assert http.put("/admin/general-settings", json=settings).status_code in (200, 204)
            made = http.post(
                f"{ENV}/lkenv",
                params={"wait": "true"},
                json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": "lkdemo-c",
                      "installJupyterSupport": True},
            )  # fmt: skip
            assert made.status_code == 200 and made.json()["messages"]["error"] is False, made.text
            built = holders(http, "lkenv")
            assert list(built.values()) == ["READY"] and set(built) <= workers, built
            builder = next(iter(built))
            fresh = (workers - {builder}).pop()
            fresh_env = nodes[fresh].base / "data" / "code-envs" / "python" / "lkenv"
            assert not fresh_env.exists()

            # Two sessions started at once on the worker that never built the env: it builds it
            # once, then both kernels import the package only that env has.
            http.post("/projects/", json={"projectKey": "ENV", "name": "Envs"})
            code = "import lkdemo_c, sys; print(lkdemo_c.VALUE, sys.prefix)"
            assert http.post(f"{NB}/env", json=notebook(code, kernel=KERNEL)).status_code == 200
            drain(http, builder, True)
            with ThreadPoolExecutor(2) as pool:
                started = list(pool.map(lambda _: http.post(f"{NB}/env/sessions"), range(2)))
            assert [s.status_code for s in started] == [200, 200], [s.text for s in started]
            ids = [s.json()["sessionId"] for s in started]
            pids += [s.json()["kernelPid"] for s in started]
            assert {sessions_by_node(pg_url)[i] for i in ids} == {fresh}
            builds = query(pg_url, "SELECT node FROM tasks WHERE kind = 'codeenv.node-build'")
            assert builds == [(fresh,)], builds
            assert holders(http, "lkenv") == {builder: "READY", fresh: "READY"}
            output = run_cells(http, ids[0], "env")[0]["outputs"][0]["text"]
            assert output.split() == ["42", str(fresh_env)], output
            for sid in ids:
                assert http.delete(f"{NB}/env/sessions/{sid}").status_code == 200

            # Labels: a project pinned to gpu goes to worker-1 only; to a label no node has, 503.
            drain(http, builder, False)
            doc = http.get("/projects/ENV/settings").json()
            plain = http.post(f"{NB}/plain", json=notebook("print(1)"))
            assert plain.status_code == 200
            for label, node in (("gpu", "worker-1"), ("tpu", None)):
                doc["nodeLabel"] = label
                assert http.put("/projects/ENV/settings", json=doc).status_code == 204
                for _ in range(2):
                    answer = http.post(f"{NB}/plain/sessions")
                    if node is None:
                        assert_error(answer, 503, "tpu")
                        continue
                    assert answer.status_code == 200, answer.text
                    pids.append(answer.json()["kernelPid"])
                    assert sessions_by_node(pg_url)[answer.json()["sessionId"]] == node
            for sid in sessions_by_node(pg_url):
                http.delete(f"{NB}/plain/sessions/{sid}")
            doc["nodeLabel"] = None
            assert http.put("/projects/ENV/settings", json=doc).status_code == 204

            # A build that fails on the node answers its error, never a hang: the env is rebuilt
            # (on some worker), then the index is emptied and the other worker must build it.
            made = http.post(f"{ENV}/lkenv/packages", params={"wait": "true", "forceRebuildEnv": "true"})
            assert made.status_code == 200 and made.json()["messages"]["error"] is False, made.text
            current = [name for name, state in holders(http, "lkenv").items() if state == "READY"]
            assert len(current) == 1 and set(holders(http, "lkenv").values()) == {"READY", "OUTDATED"}
            stale = (workers - set(current)).pop()
            empty = nodes[stale].base / "no-wheels"
            empty.mkdir()
            good = dict(settings["codeEnvs"])
            settings["codeEnvs"].update(index_settings(empty))
            assert http.put("/admin/general-settings", json=settings).status_code in (200, 204)
            drain(http, current[0], True)
            refused = http.post(f"{NB}/env/sessions")
            assert_error(refused, 409, "could not be built", stale)
            assert holders(http, "lkenv")[stale] == "BROKEN"
            settings["codeEnvs"] = good
            assert http.put("/admin/general-settings", json=settings).status_code in (200, 204)
            drain(http, current[0], False)

            # Deleted, the env leaves every node: the one that built it on first use too.
            deleted = http.delete(f"{ENV}/lkenv", params={"force": "true"})
            assert deleted.status_code == 200, deleted.text
            kernelspec = nodes[fresh].base / "data" / "jupyter" / "kernels" / KERNEL
            assert wait_for(lambda: not fresh_env.exists() and not kernelspec.exists(), 20)
            assert wait_for(lambda: not query(pg_url, "SELECT node FROM code_env_nodes"), 20)

            # A worker restarted while a start waits for it takes the start once it can run it.
            # Its row keeps looking alive meanwhile (a worker restarted within the heartbeat's
            # window; a loaded test machine may take longer than the window to start one), so
            # the start is queued for it before it listens: it must not take the job before it
            # can run it.
            doomed = nodes["worker-2"]
            drain(http, "worker-1", True)
            doomed.kill_hard()
            doomed.stop()
            query(pg_url, "UPDATE nodes SET heartbeat_on = heartbeat_on + 120000 WHERE name = 'worker-2' "
                  "RETURNING name")  # fmt: skip
            nodes["worker-2"] = Node(_network, 5, "worker-2", "worker", pg_url, kernel_runtime)
            answer = http.post(f"{NB}/plain/sessions")
            assert answer.status_code == 200, (answer.text, nodes["worker-2"].output())
            pids.append(answer.json()["kernelPid"])
            assert sessions_by_node(pg_url)[answer.json()["sessionId"]] == "worker-2"
        finally:
            for pid in pids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
