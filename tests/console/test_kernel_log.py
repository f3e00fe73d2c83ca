"""The kernel log page of the console (/notebooks/<key>/<notebook>/sessions/<id>/log), over
HTTP with a real kernel: what a malicious project member would try. The log is shown as
text, with keys and URL credentials masked, to the session's creator, a project admin and an
instance admin only, and the "Log" link of the running-notebooks table is offered to them alone."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from tests.conftest import Instance
from tests.console.helpers import set_password, signed_in
from tests.helpers import wait_for
from tests.jupyter.helpers import notebook, run_cells
from tests.projects.helpers import create, grant

CODE = {"mayRunNotebooks": True, "mayWriteUnsafeCode": True}
HOSTILE = '<script>window.__pwned=1</script>"><img src=x onerror=window.__pwned=2>'
MARKER = "kernel-said-this"
PASSWORD_IN_URL = "hunter2-in-a-url"
# An API key as the page could show it: "lk_" and a url-safe token, unmasked.
_KEY = re.compile(r"lk_[A-Za-z0-9_\-]{16,}")


def _log_url(session_id: str, project: str = "LOGS", name: str = "main") -> str:
    return f"/notebooks/{project}/{name}/sessions/{session_id}/log"


def _session_writing_to_its_log(instance: Instance) -> tuple[str, str]:
    """Project LOGS; ann (its writer) runs a notebook whose kernel writes hostile HTML, her own
    personal key, a URL with a password and the session's key to stdout and stderr. The
    session id and ann's key, once the page shows the lines."""
    create(instance, "LOGS")
    ann_key = instance.make_user("ann", ["writers"], group_permissions=CODE)
    grant(instance, "LOGS", "writers", writeProjectContent=True)
    line = f"{MARKER} {HOSTILE} key={ann_key} url=https://ann:{PASSWORD_IN_URL}@db.example/x\n"
    code = (
        "import os\n"
        f"os.write(1, {line!r}.encode())\n"
        "os.write(2, ('session key ' + os.environ['LABKEEPER_API_KEY'] + '\\n').encode())\n"
    )
    ann = instance.client(ann_key)
    assert ann.post("/projects/LOGS/jupyter-notebooks/main", json=notebook(code)).status_code == 200
    state = run_cells(ann, "LOGS", "main")
    assert state["state"] == "DONE", state
    return state["target"]["sessionId"], ann_key


def _browser_of(instance: Instance, login: str):  # type: ignore[no-untyped-def]
    set_password(instance, login)
    return signed_in(instance, login)


def _row(table: str, session_id: str) -> str:
    found = re.search(rf'<tr data-session="{session_id}">(.*?)</tr>', table, re.S)
    assert found, "no row for the session"
    return found.group(1)


def test_the_log_is_text_with_keys_and_url_passwords_masked(instance: Instance) -> None:
    sid, ann_key = _session_writing_to_its_log(instance)
    ann = _browser_of(instance, "ann")
    page = wait_for(lambda: (r := ann.get(_log_url(sid))) and "session key" in r.text and r, timeout=15)
    assert page.status_code == 200, page.text[:500]
    assert "text/html" in page.headers["content-type"]
    text = page.text
    assert MARKER in text
    # The kernel's HTML is text: escaped, never markup the browser would run.
    assert "<script>window.__pwned" not in text and "<img src=x" not in text
    assert str(escape(HOSTILE)) in text and "&lt;script&gt;window.__pwned=1&lt;/script&gt;&#34;&gt;" in text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # No key is shown (ann's own nor the session's), nor the password of a URL.
    assert ann_key not in text and not _KEY.search(text), _KEY.findall(text)
    assert text.count("lk_***") >= 2
    assert PASSWORD_IN_URL not in text and "https://ann:***@db.example/x" in text
    # Its size and last modification; not truncated.
    assert re.search(r'id="log-size">\d+ B<', text) and 'id="log-modified">20' in text
    assert 'id="log-truncated"' not in text


def test_only_the_creator_and_admins_are_offered_and_shown_the_log(instance: Instance) -> None:
    sid, _key = _session_writing_to_its_log(instance)
    instance.make_user("bob", ["writers"], group_permissions=CODE)  # same project, not its creator
    instance.make_user("carol", ["leads"])  # a project admin
    grant(instance, "LOGS", "leads", admin=True)
    instance.make_user("eve", ["others"], group_permissions=CODE)  # no access to LOGS

    for login in ["ann", "carol", "admin"]:
        client = _browser_of(instance, login)
        row = _row(client.get("/notebooks/table").text, sid)
        assert f'href="{_log_url(sid)}">Log</a>' in row, login
        page = client.get(_log_url(sid))
        assert page.status_code == 200 and MARKER in page.text, login

    bob = _browser_of(instance, "bob")
    row = _row(bob.get("/notebooks/table").text, sid)  # he sees the session, not its log
    assert "/log" not in row and ">Log<" not in row
    assert f"{sid}/log" not in bob.get("/notebooks").text
    page = bob.get(_log_url(sid))
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    assert "Not allowed" in page.text and "ADMIN permission on project LOGS" in page.text
    assert MARKER not in page.text and "session key" not in page.text

    eve = _browser_of(instance, "eve")
    assert sid not in eve.get("/notebooks/table").text
    page = eve.get(_log_url(sid))
    assert page.status_code in (403, 404) and "text/html" in page.headers["content-type"]
    assert MARKER not in page.text and "session key" not in page.text

    # The same 404 as the API for a session that is not this notebook's, or no session at all.
    ann = _browser_of(instance, "ann")
    instance.admin.post("/projects/LOGS/jupyter-notebooks/other", json=notebook("1"))
    for path in [_log_url(sid, name="other"), _log_url("0" * 16), _log_url(sid, project="NOPE")]:
        page = ann.get(path)
        assert page.status_code == 404 and "Not found" in page.text, path
        assert MARKER not in page.text


def test_a_truncated_log_says_so(instance: Instance, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from labkeeper.notebooks.jupyter import kernellogs

    sid, _key = _session_writing_to_its_log(instance)
    monkeypatch.setattr(kernellogs, "MAX_STORED_BYTES", 64)
    admin = _browser_of(instance, "admin")
    page = admin.get(_log_url(sid))
    assert page.status_code == 200
    assert 'id="log-truncated">truncated</strong>: the last 64 B are shown' in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/notebooks/LOGS/main/sessions/..%2F..%2Fetc%2Fpasswd/log",
        "/notebooks/LOGS/main/sessions/%2E%2E/log",
        "/notebooks/..%2FLOGS/main/sessions/0000000000000000/log",
        "/notebooks/LOGS/%2E%2E/sessions/0000000000000000/log",
        "/notebooks/LOGS/main%2F..%2F..%2Fx/sessions/0000000000000000/log",
        "/notebooks/LOGS/main/sessions/" + "a" * 5000 + "/log",
        "/notebooks/" + "K" * 5000 + "/main/sessions/0000000000000000/log",
        "/notebooks/LOGS/main/sessions/%00/log",
        "/notebooks/LOGS/main/sessions/x%0Ay/log",
        "/notebooks/LOGS/main/sessions/0000000000000000/log",
        "/notebooks/LOGS/nope/sessions/0000000000000000/log",
        "/notebooks/NOPE/main/sessions/0000000000000000/log",
    ],
)
def test_hostile_paths_are_4xx_pages(instance: Instance, path: str) -> None:
    create(instance, "LOGS")
    instance.admin.post("/projects/LOGS/jupyter-notebooks/main", json=notebook("1"))
    admin = _browser_of(instance, "admin")
    page = admin.get(path)
    assert 400 <= page.status_code < 500, (path, page.status_code, page.text[:300])
