"""The console in a real browser: Debian's chromium, headless, driven by Playwright, against a
real labkeeper served over HTTP with real kernels. One browser for the module; each test
gets a fresh context (cookies) and a fresh instance."""

from __future__ import annotations

import http.server
import os
import re
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.codeenvs.conftest import index_settings
from tests.codeenvs.conftest import wheelhouse as wheelhouse  # noqa: F401 - session fixture
from tests.conftest import ADMIN_KEY, API, LiveServer, free_port
from tests.console.helpers import PASSWORD
from tests.helpers import CHROMIUM, NO_CHROMIUM, browser_fixture, wait_for
from tests.jupyter.helpers import notebook

HOSTILE = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"

if not os.path.exists(CHROMIUM):
    pytest.skip(NO_CHROMIUM, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
chromium = browser_fixture(sync_api)


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url + API, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        client.put("/admin/users/admin", json={"login": "admin", "password": PASSWORD}).raise_for_status()
        yield client


@pytest.fixture
def page(chromium, live: LiveServer):  # type: ignore[no-untyped-def]
    context = chromium.new_context(base_url=live.url)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    page.dialogs = dialogs
    yield page
    context.close()


def sign_in(page, login: str = "admin", password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_sign_in_and_out_and_an_old_cookie_is_refused(page, api, live) -> None:  # type: ignore[no-untyped-def]
    page.goto("/notebooks")
    assert page.url.endswith("/login?next=/notebooks")
    sign_in(page)
    page.wait_for_url("**/notebooks")
    assert page.locator("h1").inner_text() == "Running notebooks"
    cookie = next(c for c in page.context.cookies() if c["name"] == "labkeeper_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    # The cookie from before the sign-out, replayed, signs nobody in.
    replay = httpx.get(f"{live.url}/keys", cookies={cookie["name"]: cookie["value"]}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


def test_a_wrong_password_is_refused_then_rate_limited(page, api) -> None:  # type: ignore[no-untyped-def]
    from labkeeper.console.signin import MAX_FAILURES_PER_LOGIN

    for _ in range(MAX_FAILURES_PER_LOGIN):
        sign_in(page, password="not the password")
        assert "Wrong login or password" in page.locator(".error").inner_text()
    sign_in(page)  # the right password, too late
    assert "Too many failed sign-ins" in page.locator(".error").inner_text()
    assert "/login" in page.url
    events = api.get("/admin/audit", params={"limit": 50}).json()
    outcomes = [e["outcome"] for e in events if e["action"] == "console sign-in"]
    assert outcomes.count("error 401") == MAX_FAILURES_PER_LOGIN and outcomes.count("error 429") == 1


def test_unload_a_session_from_running_notebooks(page, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/projects/", json={"projectKey": "NB", "name": "Notebooks"}).raise_for_status()
    api.post("/projects/NB/jupyter-notebooks/explore", json=notebook("x = 1")).raise_for_status()
    session = api.post("/projects/NB/jupyter-notebooks/explore/sessions").json()
    pid = session["kernelPid"]
    sign_in(page)
    page.wait_for_url("**/notebooks")
    row = page.locator(f"tr[data-session='{session['sessionId']}']")
    assert row.locator("td.pid").inner_text() == str(pid)
    memory = row.locator("td.memory").inner_text()
    assert re.fullmatch(r"\d+\.\d MiB", memory) and float(memory.split()[0]) > 1
    row.locator("input[name=session]").check()
    page.click("text=Unload selected")
    page.wait_for_url("**/notebooks?done=*")
    assert page.dialogs and "Unload the selected sessions" in page.dialogs[0]
    assert page.locator(f"tr[data-session='{session['sessionId']}']").count() == 0
    assert api.get("/projects/NB/jupyter-notebooks/explore/sessions").json() == []
    assert not os.path.exists(f"/proc/{pid}") or wait_for(
        lambda: not os.path.exists(f"/proc/{pid}"), timeout=10
    )


def test_abort_a_running_task_from_the_page(page, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/projects/", json={"projectKey": "RUN", "name": "Runs"}).raise_for_status()
    long_run = notebook("import time\nfor i in range(600):\n    time.sleep(0.1)")
    api.post("/projects/RUN/jupyter-notebooks/long", json=long_run).raise_for_status()
    job = api.post("/projects/RUN/jupyter-notebooks/long/actions/run", json={}).json()["jobId"]
    sign_in(page)
    page.goto("/tasks")
    row = page.locator(f"#running-tasks tr[data-job='{job}']")
    row.locator("button", has_text="Abort").click()
    page.wait_for_url("**/tasks?done=*")
    state = wait_for(
        lambda: (s := api.get(f"/futures/{job}", params={"peek": "true"}).json()) and not s["alive"] and s
    )
    assert state["aborted"] is True and state["abortedBy"] == "admin"
    page.goto("/tasks")
    assert page.locator(f"#recent-tasks tr[data-job='{job}']").inner_text().count("ABORTED") == 1


def test_a_personal_key_from_the_page(page, api, live) -> None:  # type: ignore[no-untyped-def]
    sign_in(page)
    page.goto("/keys")
    page.fill("#create-key input[name=label]", "laptop")
    page.click("#create-key button[type=submit]")
    secret = page.locator("#new-secret").inner_text().strip()
    assert len(secret) >= 32
    # The secret works against the API, as that user.
    me = httpx.get(f"{live.url}{API}/current-user", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["login"] == "admin"
    # Shown once: the list shows it masked, and no later page holds it.
    page.goto("/keys")
    assert secret not in page.content()
    key_id = next(k["id"] for k in api.get("/personal-api-keys/").json() if k["label"] == "laptop")
    row = page.locator(f"#personal-keys tr[data-key='{key_id}']")
    row.locator("button", has_text="Revoke").click()
    page.wait_for_url("**/keys?done=*")
    refused = httpx.get(f"{live.url}{API}/current-user", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    assert secret not in page.content()


def test_an_invalid_rule_shows_the_servers_message_and_stores_nothing(page, api) -> None:  # type: ignore[no-untyped-def]
    before = api.get("/admin/general-settings").json()
    sign_in(page)
    page.goto("/settings")
    doc = dict(before)
    doc["impersonation"] = {
        **before["impersonation"],
        "userRules": [{"type": "SINGLE_MAPPING", "ruleFrom": "alice", "targetUnix": "root"}],
    }  # noqa: E501
    import json

    page.fill("textarea[name=document]", json.dumps(doc))
    page.click("#settings-document button[type=submit]")
    message = page.locator("#document-error").inner_text()
    expected = api.put("/admin/general-settings", json=doc)  # the API's own refusal of the same document
    assert expected.status_code == 400
    assert expected.json()["message"] in message and "impersonation.userRules[0]" in message
    # The editor keeps what was typed, and the store kept what it had.
    assert "targetUnix" in page.locator("textarea[name=document]").input_value()
    assert api.get("/admin/general-settings").json() == before


def test_hostile_text_is_shown_as_text(page, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/projects/", json={"projectKey": "XSS", "name": HOSTILE}).raise_for_status()
    api.post("/personal-api-keys/", json={"label": HOSTILE}).raise_for_status()
    api.post("/admin/users/", json={"login": "eve", "displayName": HOSTILE}).raise_for_status()
    sign_in(page)
    for path, where in [("/projects", "#projects"), ("/users", "#users"), ("/projects/XSS", "h1")]:
        page.goto(path)
        assert HOSTILE in page.locator(where).inner_text(), path
        assert page.locator(f"{where} img").count() == 0
        assert page.evaluate("window.__pwned") is None, path
    page.goto("/keys")  # a label is shown in its editable field, as its value
    labels = page.locator("#personal-keys input[name=label]").evaluate_all("nodes => nodes.map(n => n.value)")
    assert HOSTILE in labels
    assert page.locator("#personal-keys img").count() == 0 and page.evaluate("window.__pwned") is None
    assert page.dialogs == []


@pytest.mark.parametrize("evil_host", ["127.0.0.1", "127.0.0.2"])
def test_a_cross_site_form_post_is_refused(page, api, live, evil_host: str) -> None:  # type: ignore[no-untyped-def]
    """From another port of the same host (same site: the cookie goes along, the CSRF check
    refuses) and from another host (SameSite keeps the cookie back: no one is signed in)."""
    port = free_port()
    attack = (
        f'<form id="f" method="post" action="{live.url}/keys/create">'
        '<input name="label" value="planted"></form><script>document.getElementById("f").submit()</script>'
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args: object) -> None:
            pass

    evil = http.server.HTTPServer((evil_host, port), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        sign_in(page)
        page.wait_for_url("**/notebooks")
        page.goto(f"http://{evil_host}:{port}/")
        if evil_host == "127.0.0.1":
            page.wait_for_url(f"{live.url}/keys/create")
            assert "Not allowed" in page.locator("h1").inner_text()
        else:
            page.wait_for_url(f"{live.url}/login**")
    finally:
        evil.shutdown()
    labels = [k["label"] for k in api.get("/personal-api-keys/").json()]
    assert "planted" not in labels


def test_a_non_admin_sees_no_admin_page(page, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/admin/users/", json={"login": "bob", "password": PASSWORD}).raise_for_status()
    sign_in(page, "bob")
    page.wait_for_url("**/notebooks")
    nav = page.locator("header nav").inner_text()
    assert "Settings" not in nav and "Audit log" not in nav and "Users" not in nav
    for path in ["/users", "/settings", "/audit"]:
        answer = page.goto(path)
        assert answer.status == 403, path
        assert "Not allowed" in page.locator("h1").inner_text()
        assert "administrator" in page.locator(".error").inner_text()


def test_docs_render_the_openapi_document(page, api) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/docs")
    page.wait_for_selector("text=/instance-info", timeout=20_000)
    # Swagger UI renders a long list of operations lazily, as it scrolls into view.
    wanted = page.locator("text=/personal-api-keys/")
    for _ in range(200):
        if wanted.count():
            break
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(50)
    wanted.first.wait_for(timeout=5_000)
    assert not [e for e in errors if "Content Security Policy" in e]


def test_running_notebooks_refreshes_itself(page, api) -> None:  # type: ignore[no-untyped-def]
    sign_in(page)
    page.wait_for_url("**/notebooks")
    assert page.locator("tr[data-session]").count() == 0
    api.post("/projects/", json={"projectKey": "LATE", "name": "Late"}).raise_for_status()
    api.post("/projects/LATE/jupyter-notebooks/nb", json=notebook("1")).raise_for_status()
    session = api.post("/projects/LATE/jupyter-notebooks/nb/sessions").json()
    # No reload: the table refreshes itself every few seconds (generous bound).
    page.wait_for_selector(f"tr[data-session='{session['sessionId']}']", timeout=30_000)


def test_a_code_env_built_updated_and_its_deletion_refused_while_used(page, api, wheelhouse) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    settings = api.get("/admin/general-settings").json()
    settings["codeEnvs"].update(index_settings(wheelhouse))
    api.put("/admin/general-settings", json=settings).raise_for_status()
    sign_in(page)
    page.goto("/code-envs")
    page.fill("input[name=name]", "web-env")
    page.fill("textarea[name=spec]", "lkdemo-a")
    page.click("text=Create and build")
    page.wait_for_url("**/code-envs/PYTHON/web-env?done=*")
    # The page follows the build (it reloads while the build runs) until the env is ready.
    sync_api.expect(page.locator("#env-state")).to_have_text("READY", timeout=120_000)
    assert "lkdemo" in page.locator("#build-log").inner_text()
    page.fill("textarea[name=spec]", "lkdemo-c")
    page.click("text=Save and update")
    page.wait_for_url("**/code-envs/PYTHON/web-env?done=*")
    built = wait_for(
        lambda: (d := api.get("/admin/code-envs/PYTHON/web-env").json())["buildFutureId"] is None and d,
        timeout=120,
    )
    assert built["actualPackageList"] == "lkdemo-c==0.5", built
    page.reload()
    sync_api.expect(page.locator("#env-state")).to_have_text("READY", timeout=30_000)
    api.post("/projects/", json={"projectKey": "CHURN", "name": "Churn"}).raise_for_status()
    project = api.get("/projects/CHURN/settings").json()
    project["settings"].setdefault("codeEnvs", {})["python"] = {"mode": "EXPLICIT_ENV", "envName": "web-env"}
    api.put("/projects/CHURN/settings", json=project).raise_for_status()
    page.goto("/code-envs/PYTHON/web-env")
    page.click("button:has-text('Delete')")
    assert page.locator("h1").inner_text().startswith("Refused")
    assert "CHURN" in page.locator(".detail").inner_text()
    assert api.get("/admin/code-envs/PYTHON/web-env").json()["state"] == "READY"


def test_a_kernel_log_opened_from_the_running_notebooks_table(page, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/projects/", json={"projectKey": "KLOG", "name": "Kernel logs"}).raise_for_status()
    line = f"said {HOSTILE} to https://ann:hunter2@db.example/x\n"
    code = f"import os\nos.write(1, {line!r}.encode())"
    api.post("/projects/KLOG/jupyter-notebooks/nb", json=notebook(code)).raise_for_status()
    run = api.post("/projects/KLOG/jupyter-notebooks/nb/actions/run", json={}).json()
    wait_for(
        lambda: not api.get(f"/futures/{run['jobId']}", params={"peek": "true"}).json()["alive"], timeout=60
    )
    sign_in(page)
    page.wait_for_url("**/notebooks")
    page.locator(f"tr[data-session='{run['sessionId']}'] a.log-link").click()
    page.wait_for_url(f"**/KLOG/nb/sessions/{run['sessionId']}/log")
    shown = page.locator("#kernel-log").inner_text()
    assert f"said {HOSTILE} to https://ann:***@db.example/x" in shown
    assert "hunter2" not in page.content()
    assert page.locator("main img, main script").count() == 0 and page.evaluate("window.__pwned") is None
