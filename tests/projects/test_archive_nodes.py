"""Project imports across API nodes (issue 11): on a PostgreSQL store, an archive uploaded to
one node waits in the store, so the process call works through any node, and nothing of it
stays in either node's data directory. Hostile archives and oversize uploads leave nothing,
in the store or on disk."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from labkeeper.config import Config
from labkeeper.projects.archive import kept, routes
from labkeeper.projects.archive.models import ImportChunk, ImportUpload
from labkeeper.server.app import create_app
from tests.conformance.test_project_archives import HOSTILE, _manifest, _zip
from tests.conftest import Instance
from tests.helpers import assert_error
from tests.jupyter.helpers import notebook
from tests.projects.helpers import create

UPLOAD = "/projects/import/upload"
MAKER = {"mayCreateProjects": True}


@contextmanager
def node(config: Config, name: str, data_dir: Path) -> Iterator[Instance]:
    app = create_app(dataclasses.replace(config, node_name=name, data_dir=data_dir, notebook_storage="store"))
    with TestClient(app) as main:
        yield Instance(app, app.state.config, main.portal)


@pytest.fixture
def two(config: Config) -> Iterator[tuple[Instance, Instance]]:
    if not config.database_url:
        pytest.skip("two API nodes share a PostgreSQL store (LABKEEPER_TEST_DATABASE_URL)")
    with (
        node(config, "api-a", config.data_dir) as a,
        node(config, "api-b", config.data_dir.with_name("data-b")) as b,
    ):
        yield a, b


def stored_uploads(instance: Instance) -> tuple[int, int]:
    with instance.store.read() as s:
        return (
            s.scalar(select(func.count()).select_from(ImportUpload)) or 0,
            s.scalar(select(func.count()).select_from(ImportChunk)) or 0,
        )


def left_on_disk(instance: Instance) -> list[str]:
    imports = instance.config.data_dir / "imports"
    staged = instance.config.data_dir / "projects"
    found = [p.name for p in imports.iterdir()] if imports.is_dir() else []
    found += [p.name for p in staged.glob(".staging-*")] if staged.is_dir() else []
    return found


def upload(client, data: bytes):  # type: ignore[no-untyped-def]
    return client.post(UPLOAD, files={"file": ("p.zip", data, "application/zip")})


def test_an_archive_uploaded_to_one_node_is_imported_through_the_other(
    two: tuple[Instance, Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    create(a, "ORIG")
    assert a.admin.post("/projects/ORIG/jupyter-notebooks/nb", json=notebook("print(1)")).status_code == 200
    exported = a.admin.post("/projects/ORIG/export")
    assert exported.status_code == 200, exported.text
    # Several chunks, so that the copy out of the store is put back together in order.
    monkeypatch.setattr(kept, "CHUNK_BYTES", 1000)
    sent = upload(a.admin, exported.content)
    assert sent.status_code == 200, sent.text
    import_id = sent.json()["id"]
    assert left_on_disk(a) == []
    assert stored_uploads(a) == (1, -(-len(exported.content) // 1000))

    # Only its uploader processes it, through any node.
    maker = a.client(a.make_user("maker", ["makers"], group_permissions=MAKER))
    assert_error(
        b.client(maker.headers["Authorization"][7:]).post(f"/projects/import/{import_id}/process", json={}),
        404,
    )
    assert_error(b.admin.post("/projects/import/..%2F..%2Fetc/process", json={}), 404)

    done = b.admin.post(f"/projects/import/{import_id}/process", json={"targetProjectKey": "COPY"})
    assert done.status_code == 200, done.text
    assert done.json()["projectKey"] == "COPY"
    copied = a.admin.get("/projects/COPY/jupyter-notebooks/nb")
    assert copied.status_code == 200 and copied.json()["cells"][0]["source"] == "print(1)"
    assert stored_uploads(a) == (0, 0)
    assert left_on_disk(a) == [] and left_on_disk(b) == []
    assert_error(a.admin.post(f"/projects/import/{import_id}/process", json={}), 404)


def test_an_import_refused_for_its_key_stays_for_another_try_on_any_node(
    two: tuple[Instance, Instance],
) -> None:
    a, b = two
    create(a, "ORIG")
    sent = upload(b.admin, a.admin.post("/projects/ORIG/export").content)
    import_id = sent.json()["id"]
    assert_error(a.admin.post(f"/projects/import/{import_id}/process", json={}), 409, "ORIG")
    assert stored_uploads(a) == (1, 1) and left_on_disk(a) == []
    again = a.admin.post(f"/projects/import/{import_id}/process", json={"targetProjectKey": "OTHER"})
    assert again.status_code == 200, again.text
    assert stored_uploads(a) == (0, 0)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_archive_uploaded_to_one_node_leaves_nothing_anywhere(
    two: tuple[Instance, Instance], case: str
) -> None:
    a, b = two
    sent = upload(a.admin, HOSTILE[case]())
    if sent.status_code == 200:  # its entries looked fine: its content is refused on processing
        answer = b.admin.post(
            f"/projects/import/{sent.json()['id']}/process", json={"targetProjectKey": "EVILCOPY"}
        )
        assert_error(answer, 400)
    else:
        assert_error(sent, 400)
    assert not os.path.exists("/tmp/escape.ipynb")
    keys = [p["projectKey"] for p in a.admin.get("/projects/").json()]
    assert "EVIL" not in keys and "EVILCOPY" not in keys
    assert stored_uploads(a) == (0, 0)
    assert left_on_disk(a) == [] and left_on_disk(b) == []


def test_an_oversize_upload_is_refused_and_leaves_nothing(
    two: tuple[Instance, Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _b = two
    monkeypatch.setattr(routes.upload_import, "max_body_bytes", 64 * 1024)
    big = _zip({"labkeeper-project.json": _manifest(), "jupyter/a.ipynb": os.urandom(200 * 1024)})
    # Declared too large: refused before a byte is read.
    assert_error(upload(a.admin, big), 413)

    # Streamed without a length: refused once the limit is passed, the partial body removed.
    def chunks() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.zip"\r\n\r\n'
        for start in range(0, len(big), 16 * 1024):
            yield big[start : start + 16 * 1024]
        yield b"\r\n--x--\r\n"

    streamed = a.admin.post(
        UPLOAD, content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert_error(streamed, 413)
    assert stored_uploads(a) == (0, 0)
    assert left_on_disk(a) == []
