"""Signing in to the console with a plain HTTP client (the browser tests use chromium)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def set_password(instance, login: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    r = instance.admin.put(f"/admin/users/{login}", json={"login": login, "password": password})
    assert r.status_code == 200, r.text


def browser(instance) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(instance.app, base_url="http://testserver", raise_server_exceptions=False)
    client.portal = instance.portal
    return client


def signed_in(instance, login: str, password: str = PASSWORD) -> TestClient:  # type: ignore[no-untyped-def]
    client = browser(instance)
    r = client.post("/login", data={"login": login, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def csrf_of(client: TestClient, path: str = "/keys") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found, "no CSRF token on the page"
    return found.group(1)
