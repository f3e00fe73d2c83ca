"""Node labels and a project's pin to one: who may set it, what it accepts, where sessions go."""

from __future__ import annotations

import pytest

from labkeeper.cli.serve import config_from_options
from labkeeper.nodes import service
from labkeeper.nodes.models import Node
from labkeeper.notebooks.jupyter import placement
from tests.conftest import Instance
from tests.helpers import assert_error
from tests.projects.helpers import create, grant


def settings_with(instance: Instance, client, key: str, **changes: object):  # type: ignore[no-untyped-def]
    doc = instance.admin.get(f"/projects/{key}/settings").json()
    doc.update(changes)
    return client.put(f"/projects/{key}/settings", json=doc)


@pytest.fixture
def member(instance: Instance):  # type: ignore[no-untyped-def]
    """A project member who may write the project and change its settings, not an admin."""
    create(instance, "LBL")
    secret = instance.make_user("mia", ["writers"])
    grant(instance, "LBL", "writers", readProjectContent=True, writeProjectContent=True)
    return instance.client(secret)


def test_only_an_admin_pins_a_project_to_a_label(instance: Instance, member) -> None:  # type: ignore[no-untyped-def]
    assert_error(settings_with(instance, member, "LBL", nodeLabel="gpu"), 403, "administrator")
    assert "nodeLabel" not in instance.admin.get("/projects/LBL/settings").json()
    assert settings_with(instance, instance.admin, "LBL", nodeLabel="gpu").status_code == 204
    assert instance.admin.get("/projects/LBL/settings").json()["nodeLabel"] == "gpu"

    # The member saves the settings as read (the pin unchanged), or without the key: the pin
    # stays; removing or moving it is refused.
    assert settings_with(instance, member, "LBL").status_code == 204
    doc = instance.admin.get("/projects/LBL/settings").json()
    doc.pop("nodeLabel")
    assert member.put("/projects/LBL/settings", json=doc).status_code == 204
    assert instance.admin.get("/projects/LBL/settings").json()["nodeLabel"] == "gpu"
    assert_error(settings_with(instance, member, "LBL", nodeLabel="big"), 403)
    assert_error(settings_with(instance, member, "LBL", nodeLabel=None), 403)
    assert_error(settings_with(instance, member, "LBL", nodeLabel=""), 403)
    assert instance.admin.get("/projects/LBL/settings").json()["nodeLabel"] == "gpu"


@pytest.mark.parametrize("label", ["../etc", "a/b", "gpu\x00", " gpu", "x" * 1000, 42, ["gpu"], {"a": 1}])
def test_a_hostile_label_is_a_400(instance: Instance, member, label: object) -> None:  # type: ignore[no-untyped-def]
    for client in (instance.admin, member):
        assert_error(settings_with(instance, client, "LBL", nodeLabel=label), 400, "nodeLabel")
    assert "nodeLabel" not in instance.admin.get("/projects/LBL/settings").json()


def test_a_pinned_project_starts_no_session_on_a_node_without_its_label(instance: Instance) -> None:
    from tests.jupyter.helpers import notebook

    create(instance, "LBL")
    made = instance.admin.post("/projects/LBL/jupyter-notebooks/nb", json=notebook("1"))
    assert made.status_code == 200, made.text
    assert settings_with(instance, instance.admin, "LBL", nodeLabel="gpu").status_code == 204
    answer = instance.admin.post("/projects/LBL/jupyter-notebooks/nb/sessions")
    assert_error(answer, 503, "gpu", "LBL")
    with instance.store.read() as s:
        from labkeeper.notebooks.jupyter.models import JupyterSession

        assert s.query(JupyterSession).count() == 0


def test_labels_are_listed_and_pin_placement(instance: Instance) -> None:
    name = instance.config.effective_node_name
    assert instance.admin.get("/admin/nodes").json()[0]["labels"] == []
    now = service.now_ms()
    with instance.store.begin() as s:
        s.get(Node, name).labels = ["big"]
        for other, labels in (("w-gpu", ["gpu", "big"]), ("w-plain", [])):
            s.add(Node(name=other, role="worker", started_on=now, heartbeat_on=now, labels=labels))
    listed = {n["name"]: n["labels"] for n in instance.admin.get("/admin/nodes").json()}
    assert listed == {name: ["big"], "w-gpu": ["gpu", "big"], "w-plain": []}

    def choose(label: str) -> str:
        return placement.choose_node(
            instance.store, here=name, executes_here=True, kernel="k", anywhere=True, label=label
        )

    assert choose("gpu") == "w-gpu"
    assert choose("big") in {name, "w-gpu"}
    assert choose("") in {name, "w-gpu", "w-plain"}
    with pytest.raises(Exception) as refused:
        choose("tpu")
    assert getattr(refused.value, "status", None) == 503 and "tpu" in str(refused.value)


@pytest.mark.parametrize("label", ["../x", "a/b", "x" * 1000, ""])
def test_the_worker_refuses_a_hostile_label(label: str, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    options = {
        "data_dir": str(tmp_path),
        "database_url": None,
        "kernel_python": None,
        "graceful_timeout": 1.0,
        "log_format": "text",
        "node_name": None,
        "labels": (label,),
        "public_url": None,
        "secret_key_file": None,
        "notebook_storage": None,
        "task_slots": None,
    }
    assert config_from_options(options, serves_api=False) is None
    assert "--label" in capsys.readouterr().err
