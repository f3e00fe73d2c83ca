"""Two API nodes on one PostgreSQL store, each with its own data directory (issue 11): a Lab
checkpoint made through one is listed, restored and deleted through the other, and a kernel
started through one has its log read through the other, by its creator and a project admin
only, with no API key in it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from labkeeper.config import Config
from labkeeper.notebooks.jupyter import kernellogs
from tests.conftest import LiveServer
from tests.helpers import assert_error, wait_for
from tests.lab.helpers import UNSAFE_CODE, Lab, notebook

NB = "/projects/WORK/jupyter-notebooks"


@pytest.fixture
def two(config: Config) -> Iterator[tuple[Lab, Lab]]:
    if not config.database_url:
        pytest.skip("two API nodes share a PostgreSQL store (LABKEEPER_TEST_DATABASE_URL)")
    first = dataclasses.replace(config, node_name="node-a", notebook_storage="store")
    second = dataclasses.replace(first, node_name="node-b", data_dir=config.data_dir.with_name("data-b"))
    with LiveServer(first) as a, LiveServer(second) as b:
        yield Lab(a), Lab(b)


@pytest.fixture
def people(two: tuple[Lab, Lab]) -> dict[str, str]:
    """ann and bob write project WORK (notebook `first`); carl administers it."""
    a, _b = two
    keys = {
        "ann": a.user("ann", "analysts", UNSAFE_CODE),
        "bob": a.user("bob", "analysts", UNSAFE_CODE),
        "carl": a.user("carl", "leads"),
    }
    a.project("WORK", writers=("analysts",))
    perms = a.admin.get("/projects/WORK/permissions").json()
    perms["permissions"] += [{"group": "leads", "admin": True}]
    assert a.admin.put("/projects/WORK/permissions", json=perms).status_code == 204
    a.put_notebook(keys["ann"], "WORK", "first", "print('hello')")
    return keys


def test_a_checkpoint_made_through_one_node_is_restored_through_the_other(
    two: tuple[Lab, Lab], people: dict[str, str]
) -> None:
    a, b = two
    ann = people["ann"]
    made = a.lab(ann).post("/api/contents/WORK/first.ipynb/checkpoints")
    assert made.status_code == 201, made.text
    assert not (a.live.config.data_dir / "jupyter" / "checkpoints").exists()
    listed = b.lab(ann).get("/api/contents/WORK/first.ipynb/checkpoints")
    assert [c["id"] for c in listed.json()] == ["checkpoint"], listed.text
    assert b.api(ann).put(f"{NB}/first", json=notebook("print('later')")).status_code in (200, 204)
    restored = b.lab(ann).post("/api/contents/WORK/first.ipynb/checkpoints/checkpoint")
    assert restored.status_code == 204, restored.text
    assert a.api(ann).get(f"{NB}/first").json()["cells"][0]["source"] == "print('hello')"

    # The same rights on every node: a stranger sees nothing, a reader restores nothing.
    mallory = b.user("mallory", "outsiders", UNSAFE_CODE)
    assert_error(b.lab(mallory).get("/api/contents/WORK/first.ipynb/checkpoints"), 403, "READ")
    rita = b.user("rita", "readers")
    perms = b.admin.get("/projects/WORK/permissions").json()
    perms["permissions"] += [{"group": "readers", "readProjectContent": True}]
    assert b.admin.put("/projects/WORK/permissions", json=perms).status_code == 204
    assert_error(b.lab(rita).post("/api/contents/WORK/first.ipynb/checkpoints/checkpoint"), 403)
    assert_error(b.lab(rita).delete("/api/contents/WORK/first.ipynb/checkpoints/checkpoint"), 403)

    # Renamed through one node, the checkpoint follows; deleted through the other, it is gone.
    moved = a.lab(ann).patch("/api/contents/WORK/first.ipynb", json={"path": "WORK/second.ipynb"})
    assert moved.status_code == 200, moved.text
    assert [c["id"] for c in b.lab(ann).get("/api/contents/WORK/second.ipynb/checkpoints").json()] == [
        "checkpoint"
    ]
    assert b.lab(ann).delete("/api/contents/WORK/second.ipynb/checkpoints/checkpoint").status_code == 204
    assert a.lab(ann).get("/api/contents/WORK/second.ipynb/checkpoints").json() == []
    # A notebook deleted through the API takes its checkpoint along: a new one of that name
    # has none to restore.
    assert a.lab(ann).post("/api/contents/WORK/second.ipynb/checkpoints").status_code == 201
    assert b.api(ann).delete(f"{NB}/second").status_code == 200
    b.put_notebook(ann, "WORK", "second", "print('new')")
    assert a.lab(ann).get("/api/contents/WORK/second.ipynb/checkpoints").json() == []


def test_a_kernel_log_started_through_one_node_is_read_through_the_other(
    two: tuple[Lab, Lab], people: dict[str, str]
) -> None:
    a, b = two
    ann = people["ann"]
    code = (
        "import os\n"
        "os.write(2, b'marker-from-the-kernel\\n')\n"
        "os.write(2, ('key ' + os.environ['LABKEEPER_API_KEY'] + '\\n').encode())"
    )
    assert a.api(ann).put(f"{NB}/first", json=notebook(code)).status_code in (200, 204)
    started = a.api(ann).post(f"{NB}/first/sessions")
    assert started.status_code == 200, started.text
    sid = started.json()["sessionId"]
    assert sid in a.live.app.state.jupyter.live
    run = a.api(ann).post(f"{NB}/first/actions/run", json={"sessionId": sid}).json()

    def done() -> bool:
        return not a.api(ann).get(f"/futures/{run['jobId']}", params={"peek": "true"}).json()["alive"]

    assert wait_for(done, timeout=30)

    def read_through_b() -> dict | None:
        answer = b.api(ann).get(f"{NB}/first/sessions/{sid}/log")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body if "marker-from-the-kernel" in body["content"] else None

    log = wait_for(read_through_b, timeout=15, interval=0.2)
    assert log["node"] == "node-a" and log["maxBytes"] == kernellogs.MAX_STORED_BYTES
    assert "key lk_***" in log["content"]
    assert "lk_" not in log["content"].replace("lk_***", "")
    assert ann not in log["content"]
    # Node A, whose machine runs the kernel, reads its own file: the same masked text.
    local = a.api(ann).get(f"{NB}/first/sessions/{sid}/log").json()
    assert "marker-from-the-kernel" in local["content"] and "key lk_***" in local["content"]

    # A project admin and an instance admin read it; another member, a stranger, no one else.
    assert b.api(people["carl"]).get(f"{NB}/first/sessions/{sid}/log").status_code == 200
    assert b.admin.get(f"{NB}/first/sessions/{sid}/log").status_code == 200
    assert_error(b.api(people["bob"]).get(f"{NB}/first/sessions/{sid}/log"), 403)
    mallory = b.user("mallory", "outsiders", UNSAFE_CODE)
    assert b.api(mallory).get(f"{NB}/first/sessions/{sid}/log").status_code in (403, 404)
    assert_error(b.api(ann).get(f"{NB}/first/sessions/nope/log"), 404)
    assert_error(b.api(ann).get(f"{NB}/other/sessions/{sid}/log"), 404)

    # Unloaded through B, the kernel's log goes with its session.
    assert b.api(ann).delete(f"{NB}/first/sessions/{sid}").status_code == 200
    assert_error(b.api(ann).get(f"{NB}/first/sessions/{sid}/log"), 404)
    from labkeeper.notebooks.jupyter.models import StoredKernelLog

    with b.live.store.read() as s:
        assert s.get(StoredKernelLog, sid) is None
