"""Code in a kernel reaches the instance as the session's user, with a key that dies with it.

Also the DSS documentation's listing of every notebook of every project, pasted unchanged
into a labkeeper notebook, prints the truth about running kernels.
"""

from __future__ import annotations

import ast

import httpx

from tests.conftest import ADMIN_KEY, LiveServer
from tests.helpers import wait_for
from tests.jupyter.helpers import kernel_env, notebook

DOC_EXAMPLE = """import pprint
import dataiku

def get_instance_notebooks(client):
    all_notebooks = dict()
    for p in client.list_projects():
        p_key = p["projectKey"]
        project = client.get_project(p_key)
        project_notebooks = project.list_jupyter_notebooks()
        if project_notebooks:
            notebooks = []
            for nb in project_notebooks:
                # If the notebook is active then it has at least 1 running session
                sessions = nb.get_sessions()
                if sessions:
                    status = "ACTIVE - {} session(s)".format(len(sessions))
                else:
                    status = "INACTIVE"
                notebooks.append({"name": nb.notebook_name,
                                  "status": status})
            all_notebooks[p_key] = notebooks
    return all_notebooks

def pprint_instance_notebooks(client):
    all_notebooks = get_instance_notebooks(client)
    pprint.pprint(all_notebooks)

client = dataiku.api_client()
pprint_instance_notebooks(client)"""


def api(live: LiveServer, key: str = ADMIN_KEY) -> httpx.Client:
    return httpx.Client(base_url=live.url + "/dip/publicapi", auth=(key, ""), timeout=60)


def run(client: httpx.Client, project: str, name: str) -> dict:
    job = client.post(f"/projects/{project}/jupyter-notebooks/{name}/actions/run", json={}).json()["jobId"]
    return wait_for(
        lambda: (s := client.get(f"/futures/{job}", params={"peek": "true"}).json()) and not s["alive"] and s,
        timeout=60,
    )


def outputs(client: httpx.Client, project: str, name: str) -> list[str]:
    cells = client.get(f"/projects/{project}/jupyter-notebooks/{name}").json()["cells"]
    return ["".join(o.get("text", "") for o in cell.get("outputs", [])) for cell in cells]


def test_api_client_acts_as_the_session_creator_until_the_session_ends(live: LiveServer) -> None:
    admin = api(live)
    assert admin.post("/projects/", json={"projectKey": "KC", "name": "KC"}).status_code == 200
    code = notebook(
        "import labkeeper.client\nc = labkeeper.client.api_client()\n"
        "print(c._perform_json('GET', '/current-user')['login'])",
        "import dataiku\nprint(dataiku.default_project_key())\n"
        "print(sorted(dataiku.api_client().list_project_keys()))",
        f"import os\nprint(os.environ['LABKEEPER_URL'] == {live.url!r})",
    )
    assert admin.post("/projects/KC/jupyter-notebooks/me", json=code).status_code == 200
    state = run(admin, "KC", "me")
    assert state["hasResult"], state
    assert outputs(admin, "KC", "me") == ["admin\n", "KC\n['KC']\n", "True\n"]

    session = admin.get("/projects/KC/jupyter-notebooks/me/sessions").json()[0]
    secret = kernel_env(session["kernelPid"])["LABKEEPER_API_KEY"]
    as_session = api(live, secret)
    assert as_session.get("/current-user").json()["login"] == "admin"
    keys = admin.get("/personal-api-keys/").json()
    assert not [k for k in keys if k.get("label", "").startswith("jupyter session")]  # never listed
    assert (
        admin.delete(f"/projects/KC/jupyter-notebooks/me/sessions/{session['sessionId']}").status_code == 200
    )
    assert as_session.get("/current-user").status_code == 401


def test_the_documented_running_notebooks_example_prints_the_truth(live: LiveServer) -> None:
    admin = api(live)
    for key in ("DOCA", "DOCB"):
        assert admin.post("/projects/", json={"projectKey": key, "name": key}).status_code == 200
    assert admin.post("/projects/", json={"projectKey": "EMPTY", "name": "EMPTY"}).status_code == 200
    assert admin.post("/projects/DOCA/jupyter-notebooks/idle", json=notebook("1")).status_code == 200
    assert admin.post("/projects/DOCA/jupyter-notebooks/busy", json=notebook("1")).status_code == 200
    assert (
        admin.post("/projects/DOCB/jupyter-notebooks/report", json=notebook(DOC_EXAMPLE)).status_code == 200
    )
    for _ in range(2):
        assert admin.post("/projects/DOCA/jupyter-notebooks/busy/sessions").status_code == 200
    state = run(admin, "DOCB", "report")
    assert state["hasResult"], state
    printed = ast.literal_eval(outputs(admin, "DOCB", "report")[0])
    assert printed == {
        "DOCA": [
            {"name": "busy", "status": "ACTIVE - 2 session(s)"},
            {"name": "idle", "status": "INACTIVE"},
        ],
        "DOCB": [{"name": "report", "status": "ACTIVE - 1 session(s)"}],
    }


def test_labkeepers_own_client(live: LiveServer) -> None:
    from labkeeper.client import DSSClient, DSSJupyterNotebookListItem, DSSNotebook, DSSNotebookSession

    client = DSSClient(live.url, ADMIN_KEY)
    project = client.create_project("OWN", "Own", "admin")
    handle = project.create_jupyter_notebook("calc", notebook("print(6 * 7)"))
    session = handle.start_session()
    assert isinstance(session, DSSNotebookSession) and session.kernel_execution_state == "idle"
    assert session.kernel_memory_rss > 0 and session.kernel_name == "python3"
    result = handle.run_all(session.session_id)
    assert result["cellsRun"] == 1 and result["sessionId"] == session.session_id
    assert handle.get_content().get_cells()[0]["outputs"][0]["text"] == "42\n"
    items = project.list_jupyter_notebooks(active=True, as_type="listitems")
    assert isinstance(items[0], DSSJupyterNotebookListItem) and items[0].kernel_spec["name"] == "python3"
    running = client.list_running_notebooks()
    assert (
        isinstance(running[0], DSSNotebook)
        and running[0].get_sessions()[0]["sessionId"] == session.session_id
    )
    session.unload()
    assert handle.get_sessions() == []
    future = handle.run_all(wait=False)  # starts a session for the caller
    assert future.wait_for_result()["cellsRun"] == 1
    handle.clear_outputs()
    handle.delete()
    assert project.list_jupyter_notebooks() == []
