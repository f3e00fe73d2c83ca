"""JupyterLab in a real browser (Debian's chromium, headless, through Playwright) against a
real labkeeper with real kernels: sign in at /login, open a project notebook at /lab, run a
cell, edit and save; then the official client reads what Lab saved, lists the session with
the same PID and unloads it, and Lab shows the kernel gone (issue 13, "Done when")."""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import ADMIN_KEY, LiveServer
from tests.helpers import CHROMIUM, NO_CHROMIUM, browser_fixture
from tests.lab.helpers import UNSAFE_CODE, Lab, notebook

PASSWORD = "correct horse battery staple"
CELL = (
    "import os, dataiku\n"
    "print('uid', os.getuid(), 'pid', os.getpid())\n"
    "print(dataiku.api_client().list_project_keys())"
)

if not os.path.exists(CHROMIUM):
    pytest.skip(NO_CHROMIUM, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
chromium = browser_fixture(sync_api)


def sign_in(page, login: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def run_first_cell(page):  # type: ignore[no-untyped-def]
    """Run the notebook's first cell and return its output. While Lab is still attaching the
    kernel it may ask which kernel to use and drop the run: then answer and run it again."""
    for _attempt in range(4):
        page.click(".jp-Notebook .jp-Cell >> nth=0 >> .jp-InputArea-editor")
        page.keyboard.press("Shift+Enter")
        chooser = page.locator(".jp-Dialog button:has-text('Select')")
        try:
            chooser.wait_for(timeout=3_000)
            chooser.click()
            continue
        except sync_api.TimeoutError:
            pass
        try:
            return page.wait_for_selector(".jp-OutputArea-output:has-text('uid')", timeout=30_000)
        except sync_api.TimeoutError:
            continue
    raise AssertionError("the first cell never ran")


def test_open_run_edit_save_in_lab_then_the_official_client_sees_it(chromium, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    import dataikuapi

    lab = Lab(live)
    key = lab.user("carol", "analysts", UNSAFE_CODE)
    assert (
        lab.admin.put("/admin/users/carol", json={"login": "carol", "password": PASSWORD}).status_code < 300
    )
    lab.project("WORK", writers=("analysts",))
    assert lab.api(key).post("/projects/WORK/jupyter-notebooks/demo", json=notebook(CELL)).status_code == 200

    context = chromium.new_context(base_url=live.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, "carol")
        page.goto("/lab/lab/tree/WORK/demo.ipynb")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        lab_kernels = "() => fetch('/lab/api/kernels').then(r => r.json()).then(k => k.length === 1)"
        page.wait_for_function(lab_kernels, timeout=60_000)  # the kernel is up and its socket open
        output = run_first_cell(page)
        page.wait_for_selector(".jp-OutputArea-output:has-text('WORK')", timeout=60_000)
        match = re.search(r"uid (\d+) pid (\d+)", output.inner_text())
        assert match, output.inner_text()
        uid, pid = int(match.group(1)), int(match.group(2))
        assert uid != 0
        # edit: the new cell under the output, then save
        page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-InputArea-editor").click()
        page.keyboard.type("print('written in lab')")
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        if os.environ.get("LABKEEPER_SCREENSHOT"):
            page.screenshot(path=os.environ["LABKEEPER_SCREENSHOT"])

        client = dataikuapi.DSSClient(live.url, ADMIN_KEY)
        nb = client.get_project("WORK").get_jupyter_notebook("demo")

        def saved() -> bool:
            cells = nb.get_content().get_raw()["cells"]
            return any("written in lab" in "".join(cell["source"]) for cell in cells[1:])

        from tests.helpers import wait_for

        assert wait_for(saved, timeout=30)
        cells = nb.get_content().get_raw()["cells"]
        text = "".join("".join(o.get("text", "")) for o in cells[0]["outputs"])
        assert f"uid {uid} pid {pid}" in text and "WORK" in text
        sessions = nb.get_sessions(as_objects=True)
        assert [(x.kernel_pid, x.session_creator) for x in sessions] == [(pid, "carol")]
        sessions[0].unload()
        # Lab notices: its kernel indicator leaves "idle" for a kernel that is gone
        page.wait_for_function(
            "() => fetch('/lab/api/kernels').then(r => r.json()).then(k => k.length === 0)", timeout=30_000
        )
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator:not([data-status='idle'])", timeout=60_000)
    except Exception:
        page.screenshot(path="/tmp/lab-browser-failure.png")
        raise
    finally:
        context.close()
