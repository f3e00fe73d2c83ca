"""GET /admin/nodes and draining, on a real instance and through `labkeeper nodes`."""

from __future__ import annotations

import json

import pytest

from labkeeper.cli.main import main
from labkeeper.nodes.models import Node
from tests.conftest import ADMIN_KEY, Instance
from tests.helpers import assert_error


def test_the_instance_lists_itself_as_a_node(instance: Instance) -> None:
    nodes = instance.admin.get("/admin/nodes").json()
    assert [n["name"] for n in nodes] == [instance.config.effective_node_name]
    node = nodes[0]
    expected_role = "api+worker"  # SQLite: in-process; PostgreSQL: with its embedded worker
    assert node["role"] == expected_role and node["alive"] is True and node["state"] == "UP"
    assert node["version"] and node["lastHeartbeat"] > 0
    assert node["liveKernels"] == 0 and node["runningTasks"] == 0


def test_nodes_are_for_admins_only(instance: Instance) -> None:
    alice = instance.client(instance.make_user("alice", ["analysts"]))
    assert_error(alice.get("/admin/nodes"), 403)
    assert_error(alice.post(f"/admin/nodes/{instance.config.effective_node_name}/drain"), 403)
    with instance.store.read() as s:
        assert s.get(Node, instance.config.effective_node_name).draining is False


def test_drain_and_undrain(instance: Instance) -> None:
    name = instance.config.effective_node_name
    drained = instance.admin.post(f"/admin/nodes/{name}/drain").json()
    assert drained["draining"] is True and drained["state"] == "DRAINING"
    assert instance.admin.get("/admin/nodes").json()[0]["state"] == "DRAINING"
    assert instance.admin.post(f"/admin/nodes/{name}/undrain").json()["state"] == "UP"


@pytest.mark.parametrize("name", ["no-such-node", "..", "a%00b", "x" * 500])
def test_draining_an_unknown_or_hostile_name_is_a_4xx(instance: Instance, name: str) -> None:
    answer = instance.admin.post(f"/admin/nodes/{name}/drain")
    assert answer.status_code in (400, 404), answer.text
    assert set(answer.json()) >= {"errorType", "message", "detailedMessage"}


def test_a_node_that_stops_beating_is_shown_down(instance: Instance) -> None:
    name = instance.config.effective_node_name
    with instance.store.begin() as s:
        s.add(Node(name="gone", role="worker", started_on=1, heartbeat_on=1))
    states = {n["name"]: n for n in instance.admin.get("/admin/nodes").json()}
    assert states["gone"]["alive"] is False and states["gone"]["state"] == "DOWN"
    assert states[name]["alive"] is True


def test_nodes_command(live, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LABKEEPER_URL", live.url)
    monkeypatch.setenv("LABKEEPER_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    name = live.config.effective_node_name
    assert main(["nodes"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["NAME", "ROLE", "STATE"] and row.split()[:3] == [name, "api+worker", "UP"]
    assert main(["nodes", "drain", name]) == 0
    assert capsys.readouterr().out.strip() == f"node {name}: DRAINING"
    assert main(["nodes", "list", "--json"]) == 0
    assert [n["state"] for n in json.loads(capsys.readouterr().out)] == ["DRAINING"]
    assert main(["nodes", "undrain", name]) == 0
    assert capsys.readouterr().out.strip() == f"node {name}: UP"
    assert main(["nodes", "drain", "no-such-node"]) == 1
    assert "no-such-node" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["serve", "--public-url", "ftp://labkeeper.example"], "--public-url must be an http"),
        (["serve", "--node-name", "../etc"], "Invalid node name"),
        (["serve", "--task-slots", "0"], "--task-slots must be at least 1"),
        (["worker"], "needs the PostgreSQL store"),
        (["worker", "--database-url", "postgresql+psycopg://u@127.0.0.1:9/x"], "instance secret"),
    ],
)
def test_node_options_are_checked_before_anything_starts(
    argv: list[str],
    words: str,
    tmp_path,
    capsys,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv("LABKEEPER_SECRET_KEY", raising=False)
    monkeypatch.delenv("LABKEEPER_SECRET_KEY_FILE", raising=False)
    assert main([*argv, "--data-dir", str(tmp_path / "data")]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
