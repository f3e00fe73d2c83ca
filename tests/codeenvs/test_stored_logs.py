"""Build logs every node answers: a finished build's log is copied into the store, so a node
that never ran the build (here: the log file removed, as on another machine) still lists
and reads it, masked; an env's deletion forgets its stored logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkeeper.codeenvs.logs import logs_dir
from labkeeper.codeenvs.models import StoredBuildLog
from tests.codeenvs.helpers import configure, create, save, update
from tests.conftest import Instance
from tests.helpers import wait_for

LOGS = "/admin/code-envs/python/etl/logs"


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path) -> Instance:
    configure(instance, wheelhouse)
    return instance


def test_a_build_log_is_read_from_the_store_where_its_file_is_missing(envs: Instance) -> None:
    create(envs.admin, "etl", specPackageList="lkdemo-b")
    save(envs.admin, "etl", specPackageList="lkdemo-c")
    assert update(envs.admin, "etl").json()["messages"]["error"] is False
    here = envs.admin.get(LOGS).json()
    assert [log["mode"] for log in here] == ["update", "create"]
    texts = {log["name"]: envs.admin.get(f"{LOGS}/{log['name']}").text for log in here}

    shutil.rmtree(logs_dir(envs.config.data_dir, "PYTHON", "etl"))  # as on a node that did not build
    elsewhere = envs.admin.get(LOGS).json()
    assert [(log["name"], log["mode"], log["futureId"]) for log in elsewhere] == [
        (log["name"], log["mode"], log["futureId"]) for log in here
    ]
    for name, text in texts.items():
        assert envs.admin.get(f"{LOGS}/{name}").text == text
    assert "lkdemo-c==0.5" in texts[here[0]["name"]]
    assert envs.admin.get(f"{LOGS}/..%2F..%2Flabkeeper.db").status_code == 404
    assert envs.admin.get(f"{LOGS}/20990101-000000.000-create-00.log").status_code == 404
    plain = envs.client(envs.make_user("plain", ["nobody"]))
    assert plain.get(f"{LOGS}/{here[0]['name']}").status_code == 403

    assert envs.admin.delete("/admin/code-envs/python/etl").status_code == 200

    def stored() -> int:
        with envs.store.read() as s:
            return s.query(StoredBuildLog).filter(StoredBuildLog.env_name == "etl").count()

    assert wait_for(lambda: stored() == 0, timeout=30)
