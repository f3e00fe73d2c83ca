"""The in-memory project list: it is reused while nothing changes, and every write, from
this process or another one, shows in the next list."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.db.stamps import PROJECTS
from labkeeper.projects.listing import render_project_list
from tests.conftest import Instance
from tests.projects.helpers import create, grant, keys

ADMIN = Principal(
    login="admin",
    groups=frozenset({"administrators"}),
    admin=True,
    permissions=frozenset(),
    key_id="tests",
    key_kind="PERSONAL",
)
REPO = Path(__file__).resolve().parents[2]


def generation(store: Store) -> int:
    return store.stamps().get(PROJECTS, 0)


def test_unchanged_list_is_served_from_memory(instance: Instance) -> None:
    create(instance, "ONE")
    first = render_project_list(instance.store, ADMIN)
    assert render_project_list(instance.store, ADMIN) is first
    assert render_project_list(instance.store, ADMIN, include_location=True) is not first
    # A write that does not touch projects keeps the cache; a project write replaces it.
    instance.admin.post("/projects/ONE/datasets/", json={"name": "d", "type": "Inline"})
    assert render_project_list(instance.store, ADMIN) is first
    instance.admin.put("/projects/ONE/variables/", json={"standard": {"a": 1}, "local": {}})
    assert render_project_list(instance.store, ADMIN) is not first


def test_every_project_write_moves_the_projects_stamp(instance: Instance) -> None:
    start = generation(instance.store)
    create(instance, "GEN")
    steps = [generation(instance.store)]
    meta = instance.admin.get("/projects/GEN/metadata").json()
    instance.admin.put("/projects/GEN/metadata", json=meta)
    steps.append(generation(instance.store))
    settings = instance.admin.get("/projects/GEN/settings").json()
    instance.admin.put("/projects/GEN/settings", json=settings)
    steps.append(generation(instance.store))
    perms = instance.admin.get("/projects/GEN/permissions").json()
    instance.admin.put("/projects/GEN/permissions", json=perms)
    steps.append(generation(instance.store))
    instance.admin.delete("/projects/GEN")
    steps.append(generation(instance.store))
    assert [start, *steps] == sorted(set([start, *steps])), [start, *steps]
    # A refused write does not move it.
    before = generation(instance.store)
    instance.admin.post("/projects/", json={"projectKey": "../X", "name": "x"})
    assert generation(instance.store) == before


def test_write_then_list_shows_the_change(instance: Instance) -> None:
    reader = instance.client(instance.make_user("reader", ["readers"]))
    create(instance, "A")
    assert keys(reader) == []
    grant(instance, "A", "readers", readProjectContent=True)
    assert keys(reader) == ["A"]
    meta = instance.admin.get("/projects/A/metadata").json()
    meta.update(label="Renamed", tags=["new"])
    instance.admin.put("/projects/A/metadata", json=meta)
    item = reader.get("/projects/").json()[0]
    assert item["name"] == "Renamed" and item["tags"] == ["new"]
    instance.admin.delete("/projects/A")
    assert keys(reader) == [] and keys(instance.admin) == []


def test_a_second_store_sees_changes_both_ways(instance: Instance) -> None:
    other = Store(instance.store.url)
    try:
        assert orjson.loads(render_project_list(other, ADMIN)) == []
        create(instance, "FROM_APP")
        assert [p["projectKey"] for p in orjson.loads(render_project_list(other, ADMIN))] == ["FROM_APP"]
        from labkeeper.projects.service import create_project

        create_project(other, principal=ADMIN, body={"projectKey": "FROM_OTHER", "name": "o"})
        assert keys(instance.admin) == ["FROM_APP", "FROM_OTHER"]
        assert [p["projectKey"] for p in orjson.loads(render_project_list(other, ADMIN))] == [
            "FROM_APP",
            "FROM_OTHER",
        ]
    finally:
        other.dispose()


def test_a_write_from_another_process_shows_in_the_list(instance: Instance) -> None:
    create(instance, "FIRST")
    assert keys(instance.admin) == ["FIRST"]  # cached in this process now
    script = textwrap.dedent(
        f"""
        from labkeeper.auth.principal import Principal
        from labkeeper.db import Store
        from labkeeper.projects import service
        import labkeeper.models

        store = Store({instance.store.url!r})
        admin = Principal(login="admin", groups=frozenset(), admin=True, permissions=frozenset(),
                          key_id="other-process", key_kind="PERSONAL")
        service.create_project(store, principal=admin, body={{"projectKey": "SECOND", "name": "From afar"}})
        meta = service.get_metadata(store, principal=admin, key="FIRST")
        meta["label"] = "Renamed elsewhere"
        service.put_metadata(store, principal=admin, key="FIRST", body=meta)
        store.dispose()
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    items = instance.admin.get("/projects/").json()
    assert [(i["projectKey"], i["name"]) for i in items] == [
        ("FIRST", "Renamed elsewhere"),
        ("SECOND", "From afar"),
    ]


def test_views_are_cached_per_caller(instance: Instance) -> None:
    alice = instance.client(instance.make_user("alice", ["ateam"]))
    bob = instance.client(instance.make_user("bob", ["bteam"]))
    create(instance, "FOR_A")
    create(instance, "FOR_B")
    grant(instance, "FOR_A", "ateam", readProjectContent=True)
    grant(instance, "FOR_B", "bteam", readProjectContent=True)
    for _ in range(3):
        assert keys(alice) == ["FOR_A"]
        assert keys(bob) == ["FOR_B"]
        assert keys(instance.admin) == ["FOR_A", "FOR_B"]


def test_concurrent_project_writes_all_land_and_show(instance: Instance) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from labkeeper.projects.service import create_project

    before = generation(instance.store)

    def make(n: int) -> None:
        create_project(instance.store, principal=ADMIN, body={"projectKey": f"C{n:02d}", "name": f"c{n}"})
        render_project_list(instance.store, ADMIN)  # readers interleave with the writers

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make, range(24)))
    assert keys(instance.admin) == [f"C{n:02d}" for n in range(24)]
    assert generation(instance.store) >= before + 24
