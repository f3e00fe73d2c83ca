"""A NUL character (%00) in a URL names no route and no value, and no store keeps it in
text (PostgreSQL refuses it): every route answers it with a 400 and the DSS error body,
before anything reads, writes or audits it; a NUL that reaches the store in a value is a
400 too, never a 500."""

from __future__ import annotations

import re

import psycopg
import pytest
from sqlalchemy.exc import DataError

from labkeeper.server.errors import answer_for
from tests.conftest import Instance
from tests.helpers import assert_error
from tests.projects.helpers import create


def filled(template: str, hostile: int) -> str:
    """The route's path with its parameters filled, the `hostile`-th one holding a NUL."""
    count = iter(range(100))
    return re.sub(r"\{[^}]+\}", lambda _: "a%00b" if next(count) == hostile else "sample", template)


def test_every_route_refuses_a_nul_in_any_path_parameter(instance: Instance) -> None:
    create(instance, "SAMPLE")
    checked = 0
    for entry in instance.app.request_path.table.entries:
        template = getattr(entry.route, "path", "")
        if not template.startswith("/dip/publicapi") or not entry.params:
            continue
        for hostile in range(len(entry.params)):
            path = filled(template.removeprefix("/dip/publicapi"), hostile)
            for method in sorted(entry.methods - {"HEAD", "OPTIONS"}):
                answer = instance.admin.request(method, path, json={} if method in ("POST", "PUT") else None)
                assert answer.status_code == 400, (method, path, answer.text)
                assert "NUL" in answer.json()["message"], answer.text
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    "path",
    [
        "/admin/impersonation/resolve?user=a%00",
        "/futures/?limit=1%00",
        "/projects/?tags=x%00",
        "/admin/users-activity?enabledUsersOnly=%00",
    ],
)
def test_a_nul_in_the_query_is_refused(instance: Instance, path: str) -> None:
    assert_error(instance.admin.get(path), 400, "NUL")


def test_a_refused_write_changes_nothing_and_is_counted_not_lost(instance: Instance) -> None:
    create(instance, "KEEP")
    assert (
        instance.admin.post("/projects/KEEP/datasets/", json={"name": "d", "type": "Inline"}).status_code
        == 200
    )
    before = instance.admin.get("/admin/audit/unaudited").json()
    assert_error(instance.admin.delete("/projects/KEEP/datasets/d%00"), 400, "NUL")
    assert_error(instance.admin.delete("/projects/KEEP%00"), 400, "NUL")
    assert instance.admin.get("/projects/KEEP/datasets/d").status_code == 200
    assert instance.admin.get("/projects/KEEP").status_code == 200
    after = instance.admin.get("/admin/audit/unaudited").json()
    assert after["unknownRoute"] == before["unknownRoute"] + 2, (before, after)


def test_a_nul_the_driver_refuses_is_a_400() -> None:
    refused = DataError(
        "INSERT ...", {}, psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    )
    answer = answer_for(refused, None)  # type: ignore[arg-type]
    assert answer.status_code == 400 and b"NUL" in answer.body
