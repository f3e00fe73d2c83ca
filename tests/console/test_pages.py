"""Console pages over HTTP (no browser): every page renders for an admin, answers hostile
input with a 4xx page, and carries the security headers."""

from __future__ import annotations

import pytest

from tests.console.helpers import PASSWORD, browser, csrf_of, set_password, signed_in

PAGES = ["/notebooks", "/notebooks/table", "/tasks", "/tasks/table", "/code-envs", "/projects", "/keys",
         "/users", "/settings", "/audit"]  # fmt: skip
ADMIN_PAGES = ["/users", "/settings", "/audit"]


@pytest.fixture
def admin_browser(instance):  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    return signed_in(instance, "admin")


def test_pages_need_a_sign_in(instance) -> None:  # type: ignore[no-untyped-def]
    client = browser(instance)
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


def test_every_page_renders_with_security_headers(admin_browser) -> None:  # type: ignore[no-untyped-def]
    for path in [*PAGES, "/login", "/docs"]:
        r = admin_browser.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "text/html" in r.headers["content-type"]
        csp = r.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


def test_cookie_flags(instance) -> None:  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    r = browser(instance).post(
        "/login", data={"login": "admin", "password": PASSWORD}, follow_redirects=False
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    https = browser(instance)
    https.base_url = "https://testserver"
    r = https.post("/login", data={"login": "admin", "password": PASSWORD}, follow_redirects=False)
    assert "; secure" in r.headers["set-cookie"].lower()


def test_non_admin_gets_403_pages(instance) -> None:  # type: ignore[no-untyped-def]
    instance.make_user("bob")
    set_password(instance, "bob")
    client = signed_in(instance, "bob")
    for path in PAGES:  # the others render, with what bob may see
        if path not in ADMIN_PAGES:
            assert client.get(path).status_code == 200, path
    for path in ADMIN_PAGES:
        r = client.get(path)
        assert r.status_code == 403, path
        assert "Not allowed" in r.text and "text/html" in r.headers["content-type"]
    token = csrf_of(client)
    r = client.post("/users/create", data={"csrf": token, "login": "mallory"})
    assert r.status_code == 403
    r = client.post("/settings/document", data={"csrf": token, "document": "{}"})
    assert r.status_code == 403
    assert instance.admin.get("/admin/users/mallory").status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/projects/..%2Fetc", "/projects/NOPE", "/code-envs/PYTHON/%2E%2E", "/code-envs/R/x", "/audit?offset=-1",
     "/audit?since=yesterday", "/projects?offset=abc", "/projects/A/sql/%00"],
)  # fmt: skip
def test_hostile_paths_are_4xx_pages(admin_browser, path: str) -> None:  # type: ignore[no-untyped-def]
    r = admin_browser.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])


HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize(
    "path",
    ["/nope", "/projects/A%2FB", "/notebooks/A%2FB/main/sessions/s/log", "/code-envs/python/a%2Fb",
     "/projects/X/sql/a%2Fb/c", "/%3Cscript%3Ealert(1)%3C%2Fscript%3E"],
)  # fmt: skip
def test_an_address_naming_no_page_is_the_consoles_404_page(instance, admin_browser, path: str) -> None:  # type: ignore[no-untyped-def]
    for client in (admin_browser, browser(instance)):  # signed in or not
        r = client.get(path, headers=HTML, follow_redirects=False)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"], (path, r.text[:300])
        assert "No console page at this address" in r.text and "<script>alert" not in r.text
        assert (
            r.headers["x-frame-options"] == "DENY"
            and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        )
    # A script, or any client not asking for HTML, keeps the DSS error body; so does every API path.
    body = admin_browser.get(path).json()
    assert body["errorType"] == "NotFoundException"
    for api in ("/dip/publicapi/nope", "/public/api/nope"):
        assert admin_browser.get(api, headers=HTML).json()["errorType"] == "NotFoundException"
    assert admin_browser.post(path, headers=HTML).json()["errorType"] == "NotFoundException"


def test_posts_without_csrf_are_refused(admin_browser) -> None:  # type: ignore[no-untyped-def]
    for path in ["/keys/create", "/users/create", "/notebooks/unload", "/settings/common", "/tasks/x/abort"]:
        r = admin_browser.post(path, data={"label": "x", "login": "eve"})
        assert r.status_code == 403, path
    r = admin_browser.post("/keys/create", data={"csrf": "0" * 64, "label": "x"})
    assert r.status_code == 403
    r = admin_browser.post(
        "/keys/create", content=b'{"label": "x"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


def test_cross_origin_post_is_refused_even_with_token(admin_browser) -> None:  # type: ignore[no-untyped-def]
    token = csrf_of(admin_browser)
    r = admin_browser.post(
        "/keys/create", data={"csrf": token, "label": "x"}, headers={"origin": "http://evil.example"}
    )
    assert r.status_code == 403
    assert "Cross-site" in r.text


def test_open_redirect_after_sign_in_is_refused(instance) -> None:  # type: ignore[no-untyped-def]
    set_password(instance, "admin")
    for target in ["//evil.example/", "http://evil.example/", "/\\evil.example", "javascript:alert(1)"]:
        r = browser(instance).post(
            "/login", data={"login": "admin", "password": PASSWORD, "next": target}, follow_redirects=False
        )
        assert r.headers["location"] == "/notebooks", target


def test_static_files_are_an_allow_list(admin_browser) -> None:  # type: ignore[no-untyped-def]
    assert admin_browser.get("/console/static/console.js").status_code == 200
    for name in ["..%2F..%2Fsignin.py", "swagger%2FLICENSE", "nope.js"]:
        assert admin_browser.get(f"/console/static/{name}").status_code == 404
