"""Running all cells as a future: outputs saved, progress per cell, errors, abort interrupts."""

from __future__ import annotations

import pytest

from tests.conftest import Instance
from tests.helpers import alive, wait_for
from tests.jupyter.helpers import notebook, run_cells
from tests.projects.helpers import create

NB = "/projects/RUN/jupyter-notebooks"


@pytest.fixture
def project(instance: Instance) -> str:
    create(instance, "RUN")
    return "RUN"


def test_outputs_of_every_kind_are_saved(instance: Instance, project: str) -> None:
    admin = instance.admin
    content = notebook(
        "print('hello')\nprint('world')",
        "import sys\nprint('oops', file=sys.stderr)\n21 * 2",
        "from IPython.display import display, HTML\ndisplay(HTML('<b>bold</b>'))",
    )
    content["cells"].insert(1, {"cell_type": "markdown", "id": "md", "metadata": {}, "source": "# title"})
    assert admin.post(f"{NB}/kinds", json=content).status_code == 200
    state = run_cells(admin, "RUN", "kinds")
    assert state["hasResult"], state
    result = admin.get(f"/futures/{state['jobId']}").json()["result"]
    assert result["cellsRun"] == 3 and result["codeCells"] == 3
    cells = admin.get(f"{NB}/kinds").json()["cells"]
    assert cells[0]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "hello\nworld\n"}]
    assert cells[0]["execution_count"] == 1
    assert cells[1]["cell_type"] == "markdown" and "outputs" not in cells[1]
    kinds = [o["output_type"] for o in cells[2]["outputs"]]
    assert kinds == ["stream", "execute_result"]
    assert cells[2]["outputs"][1]["data"]["text/plain"] == "42"
    assert cells[3]["outputs"][0]["data"]["text/html"] == "<b>bold</b>"
    # The saved notebook is still valid nbformat: saving it back is accepted.
    assert admin.put(f"{NB}/kinds", json=admin.get(f"{NB}/kinds").json()).status_code == 200
    # The run started a session for the caller, which stays up for the next run.
    sessions = admin.get(f"{NB}/kinds/sessions").json()
    assert len(sessions) == 1 and sessions[0]["sessionId"] == state["target"]["sessionId"]
    again = run_cells(admin, "RUN", "kinds")
    assert again["target"]["sessionId"] == sessions[0]["sessionId"]
    assert admin.get(f"{NB}/kinds").json()["cells"][0]["execution_count"] == 4


def test_a_failing_cell_stops_the_run_and_fails_the_future(instance: Instance, project: str) -> None:
    admin = instance.admin
    assert admin.post(f"{NB}/fails", json=notebook("a = 1", "1 / 0", "print('never')")).status_code == 200
    state = run_cells(admin, "RUN", "fails")
    assert state["state"] == "FAILED" and "cell 2" in state["error"] and "ZeroDivisionError" in state["error"]
    answer = admin.get(f"/futures/{state['jobId']}")
    assert answer.status_code >= 400 and "ZeroDivisionError" in answer.json()["detailedMessage"]
    cells = admin.get(f"{NB}/fails").json()["cells"]
    assert cells[1]["outputs"][0]["output_type"] == "error"
    assert cells[1]["outputs"][0]["ename"] == "ZeroDivisionError"
    assert cells[2]["outputs"] == [] and cells[2]["execution_count"] is None


def test_abort_interrupts_the_kernel_and_keeps_the_session(instance: Instance, project: str) -> None:
    """Proved by state, not by a clock: the aborted cell would run for ten minutes, so a
    kernel back to idle with the cell's end never printed was interrupted."""
    admin = instance.admin
    content = notebook(
        "print('before')",
        "import time\nfor i in range(6000):\n    time.sleep(0.1)\nprint('loop ended')",
        "print('after')",
    )
    assert admin.post(f"{NB}/long", json=content).status_code == 200
    job = admin.post(f"{NB}/long/actions/run", json={}).json()["jobId"]

    def states() -> list[dict]:
        return admin.get(f"/futures/{job}", params={"peek": "true"}).json()["progress"]["states"]

    # The long cell has started (a kernel is busy while it starts too: not proof enough alone).
    progress = wait_for(lambda: (found := states()) and found[0]["cur"] == 1 and found, timeout=60)
    assert progress and progress[0]["target"] == 3, progress
    busy = wait_for(
        lambda: [s for s in admin.get(f"{NB}/long/sessions").json() if s["kernelExecutionState"] == "busy"],
        timeout=60,
    )
    assert busy
    assert admin.delete(f"/futures/{job}").status_code == 204
    state = wait_for(
        lambda: (s := admin.get(f"/futures/{job}", params={"peek": "true"}).json()) and not s["alive"] and s,
        timeout=60,
    )
    assert state["aborted"] is True and state["abortedBy"] == "admin"
    idle = wait_for(
        lambda: [s for s in admin.get(f"{NB}/long/sessions").json() if s["kernelExecutionState"] == "idle"],
        timeout=60,
    )
    assert idle and idle[0]["kernelPid"] == busy[0]["kernelPid"]
    assert alive(busy[0]["kernelPid"])
    cells = admin.get(f"{NB}/long").json()["cells"]
    assert cells[0]["outputs"][0]["text"] == "before\n"
    assert "loop ended" not in str(cells[1]["outputs"])
    assert cells[2]["outputs"] == []
