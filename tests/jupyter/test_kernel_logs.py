"""Kernel logs (issue 11) on one node: read from the kernel's own file, its tail bounded,
keys and URL credentials masked, nothing copied into a SQLite store; the route's rights."""

from __future__ import annotations

import pytest

from labkeeper.notebooks.jupyter import kernellogs
from labkeeper.notebooks.jupyter.models import StoredKernelLog
from tests.conftest import Instance
from tests.helpers import assert_error, wait_for
from tests.jupyter.helpers import notebook, run_cells
from tests.projects.helpers import create, grant

NB = "/projects/LOGS/jupyter-notebooks"
CODE = {"mayRunNotebooks": True, "mayWriteUnsafeCode": True}


def test_the_tail_never_shows_part_of_a_key_or_a_password(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(kernellogs, "MAX_STORED_BYTES", 64)
    path = tmp_path / "k.log"
    key = "lk_" + "A" * 43
    # The tail's 64 bytes begin inside a URL's credentials: that word is dropped, not shown.
    path.write_bytes(b"x" * 30 + key.encode() + b" https://bob:hunter2@host/x " + key.encode() + b"\n")
    content, size, _modified = kernellogs.read_tail(path)
    assert size == path.stat().st_size
    assert content == " lk_***\n", content
    # ... inside a key: the same.
    path.write_bytes(key.encode() + b" end https://bob:hunter2@host/x\n")
    monkeypatch.setattr(kernellogs, "MAX_STORED_BYTES", 50)
    assert kernellogs.read_tail(path)[0] == " end https://bob:***@host/x\n"
    assert kernellogs.read_tail(tmp_path / "absent.log") is None
    (tmp_path / "link.log").symlink_to(path)
    assert kernellogs.read_tail(tmp_path / "link.log") is None


def test_a_kernel_log_is_read_by_its_creator_and_admins_only(instance: Instance) -> None:
    create(instance, "LOGS")
    ann = instance.client(instance.make_user("ann", ["writers"], group_permissions=CODE))
    bob = instance.client(instance.make_user("bob", ["writers"], group_permissions=CODE))
    grant(instance, "LOGS", "writers", writeProjectContent=True)
    code = "import os\nos.write(2, b'to-the-log\\n')\nos.write(2, os.environ['LABKEEPER_API_KEY'].encode())"
    assert ann.post(f"{NB}/main", json=notebook(code)).status_code == 200
    state = run_cells(ann, "LOGS", "main")
    assert state["state"] == "DONE", state
    sid = state["target"]["sessionId"]

    def logged() -> dict | None:
        body = ann.get(f"{NB}/main/sessions/{sid}/log").json()
        return body if "to-the-log" in body["content"] else None

    log = wait_for(logged, timeout=10)
    assert log["sessionId"] == sid and log["size"] > 0 and not log["truncated"]
    # Read every time, never kept: a line the kernel writes now is in the next read.
    (kernel,) = [s["kernelId"] for s in ann.get(f"{NB}/main/sessions").json() if s["sessionId"] == sid]
    with (instance.config.data_dir / "jupyter" / "kernel-logs" / f"{kernel}.log").open("a") as file:
        file.write("\nwritten-after-the-first-read\n")
    assert "written-after-the-first-read" in ann.get(f"{NB}/main/sessions/{sid}/log").json()["content"]
    assert "lk_***" in log["content"] and "lk_" not in log["content"].replace("lk_***", "")
    assert instance.admin.get(f"{NB}/main/sessions/{sid}/log").status_code == 200
    assert_error(bob.get(f"{NB}/main/sessions/{sid}/log"), 403)
    stranger = instance.client(instance.make_user("eve", ["others"], group_permissions=CODE))
    assert stranger.get(f"{NB}/main/sessions/{sid}/log").status_code in (403, 404)
    assert_error(ann.get(f"{NB}/main/sessions/{'0' * 16}/log"), 404)
    if instance.config.is_sqlite:  # one machine: its own file, nothing copied
        with instance.store.read() as s:
            assert s.get(StoredKernelLog, sid) is None
    assert ann.delete(f"{NB}/main/sessions/{sid}").status_code == 200
    assert_error(ann.get(f"{NB}/main/sessions/{sid}/log"), 404)


def test_no_log_is_copied_for_a_session_that_has_ended(instance: Instance) -> None:
    logs = instance.config.data_dir / "jupyter" / "kernel-logs"
    (logs / "k-gone.log").write_text("from a kernel whose session ended\n")
    copier = kernellogs.KernelLogCopier(instance.store, logs, "here", enabled=True)
    assert copier.copy("gone-session", "k-gone") is False
    with instance.store.read() as s:
        assert s.get(StoredKernelLog, "gone-session") is None
