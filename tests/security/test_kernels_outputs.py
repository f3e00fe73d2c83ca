"""A notebook run streams outputs to disk with caps: a cell printing 200 MB neither grows
the server nor the saved notebook past them (issue 9, point 5)."""

from __future__ import annotations

import os
import threading

import psutil

from tests.conftest import Instance
from tests.helpers import assert_bad
from tests.isolation import conftest as isolation
from tests.jupyter.helpers import set_settings
from tests.security.kernels_helpers import NB, UNSAFE_CODE, member, project, put_notebook, run_and_wait

config = isolation.config

FLOOD = "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(200 * 1024):\n    sys.stdout.write(line)\n"


def test_a_cell_printing_200_mb_keeps_server_rss_and_the_notebook_bounded(instance: Instance) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    put_notebook(ann, "flood", FLOOD)
    server = psutil.Process(os.getpid())
    before = server.memory_info().rss
    peak = before
    state = None
    import threading

    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.memory_info().rss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        state = run_and_wait(ann, "flood", timeout=240)
    finally:
        done.set()
        sampler.join()
    assert state["hasResult"], state
    assert (peak - before) < 120 * 1024 * 1024, f"server RSS grew by {(peak - before) / 2**20:.0f} MiB"
    path = instance.config.data_dir / "projects" / "SEC" / "jupyter" / "flood.ipynb"
    assert path.stat().st_size < 12 * 1000 * 1000
    cells = ann.get(f"{NB}/flood").json()["cells"]
    (flood,) = cells
    assert flood["metadata"]["labkeeper"]["outputTruncated"]["limit"] == "notebooks.maxCellOutputBytes"
    # ipykernel may send the flood as a few huge messages, refused unread past the cell cap.
    assert flood["metadata"]["labkeeper"]["outputTruncated"]["droppedBytes"] >= 10_000_000
    assert "Output truncated" in flood["outputs"][-1]["text"] and flood["outputs"][-1]["name"] == "stderr"
    assert all(set(o["text"]) <= {"x", "\n"} for o in flood["outputs"][:-1])


def test_the_run_cap_truncates_later_cells_and_is_a_validated_setting(instance: Instance) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    for bad in (-1, 0, "50MB", True, 10**12):
        doc = instance.admin.get("/admin/general-settings").json()
        doc["notebooks"]["maxRunOutputBytes"] = bad
        assert_bad(instance.admin.put("/admin/general-settings", json=doc), "notebooks.maxRunOutputBytes")
    set_settings(instance.admin, "notebooks", maxRunOutputBytes=250_000, maxCellOutputBytes=200_000)
    mb = "print('y' * 99_999)"
    put_notebook(ann, "three", mb, mb, mb, "print('small')")
    state = run_and_wait(ann, "three")
    assert state["hasResult"], state
    cells = ann.get(f"{NB}/three").json()["cells"]
    assert [len(c["outputs"]) for c in cells[:2]] == [1, 1]  # both fit
    third = cells[2]
    assert third["metadata"]["labkeeper"]["outputTruncated"]["limit"] == "notebooks.maxRunOutputBytes"
    assert "Output truncated" in third["outputs"][-1]["text"]
    assert "maxRunOutputBytes" in cells[3]["outputs"][-1]["text"]  # nothing more fits in the run


def test_a_cell_after_an_oversized_message_keeps_its_output(instance: Instance) -> None:
    # One message of 200 MB, far past the cell cap: refused unread. The next cell's output
    # must still arrive, and the server must not hold the flood.
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    put_notebook(ann, "burst", "print('x' * 200_000_000)", "print('after')")
    server = psutil.Process(os.getpid())
    before = server.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.memory_info().rss)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        state = run_and_wait(ann, "burst", timeout=240)
    finally:
        done.set()
        sampler.join()
    assert state["hasResult"], state
    assert (peak - before) < 120 * 1024 * 1024, f"server RSS grew by {(peak - before) / 2**20:.0f} MiB"
    flood, after = ann.get(f"{NB}/burst").json()["cells"]
    assert flood["metadata"]["labkeeper"]["outputTruncated"]["limit"] == "notebooks.maxCellOutputBytes"
    assert "Output truncated" in flood["outputs"][-1]["text"], flood["outputs"]
    assert after["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "after\n"}], after
    assert "outputTruncated" not in (after.get("metadata") or {}).get("labkeeper", {})
