"""A connection's stored password never follows an edit to another server or account."""

from __future__ import annotations

import pytest

from labkeeper.connections.service import spec_for_use
from tests.conftest import Instance
from tests.sql.helpers import PG_PARAMS

MASK = "**********"


def _make(instance: Instance) -> dict:
    body = {"name": "pgs", "type": "PostgreSQL", "params": {**PG_PARAMS, "password": "s3cret-pw"}}
    answer = instance.admin.post("/admin/connections/", json=body)
    assert answer.status_code == 200, answer.text
    document = instance.admin.get("/admin/connections/pgs").json()
    assert document["params"]["password"] == MASK
    return document


def _stored_password(instance: Instance) -> str:
    return spec_for_use(instance.store, instance.config.data_dir, "pgs").password


@pytest.mark.parametrize(
    "change",
    [
        {"host": "attacker.example.com"},
        {"host": "127.0.0.2"},
        {"port": 5433},
        {"port": "6543"},
        {"db": "other"},
        {"db": "other", "database": "other"},
        {"user": "mallory"},
        {"host": "10.0.0.1", "port": 15432, "user": "x"},
    ],
)
def test_retargeting_with_the_masked_password_is_refused(instance: Instance, change: dict) -> None:
    document = _make(instance)
    document["params"] = {**document["params"], **change}
    answer = instance.admin.put("/admin/connections/pgs", json=document)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errorType"] and "password" in body["message"] and "again" in body["message"], body
    stored = instance.admin.get("/admin/connections/pgs").json()["params"]
    assert stored["host"] == PG_PARAMS["host"] and stored["port"] == PG_PARAMS["port"]
    assert _stored_password(instance) == "s3cret-pw"


def test_retargeting_with_a_new_password_or_editing_other_fields_works(instance: Instance) -> None:
    document = _make(instance)
    moved = {**document, "params": {**document["params"], "host": "localhost", "password": "new-pw"}}
    assert instance.admin.put("/admin/connections/pgs", json=moved).status_code == 200
    assert _stored_password(instance) == "new-pw"
    document = instance.admin.get("/admin/connections/pgs").json()
    document["description"] = "renamed"
    document["params"]["properties"] = [{"name": "application_name", "value": "x"}]
    answer = instance.admin.put("/admin/connections/pgs", json=document)
    assert answer.status_code == 200, answer.text
    assert _stored_password(instance) == "new-pw"
    # and moving it again with the mask is refused
    document = instance.admin.get("/admin/connections/pgs").json()
    document["params"]["host"] = "evil.example.com"
    assert instance.admin.put("/admin/connections/pgs", json=document).status_code == 400
