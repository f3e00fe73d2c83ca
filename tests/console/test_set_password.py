"""`labkeeper users set-password`: through the API and straight in the store; the password
then signs in to the console, and the user's earlier sessions end."""

from __future__ import annotations

import io

import httpx
import pytest

from labkeeper.cli.main import main
from labkeeper.console import signin
from tests.conftest import ADMIN_KEY


def _sign_in(url: str, password: str) -> int:
    r = httpx.post(f"{url}/login", data={"login": "admin", "password": password}, follow_redirects=False)
    return r.status_code


def test_set_password_through_the_api(live, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LABKEEPER_URL", live.url)
    monkeypatch.setenv("LABKEEPER_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    assert _sign_in(live.url, "first secret pw") == 401
    monkeypatch.setattr("sys.stdin", io.StringIO("first secret pw\n"))
    assert main(["users", "set-password", "admin", "--password-stdin"]) == 0
    assert "first secret pw" not in capsys.readouterr().out
    assert _sign_in(live.url, "first secret pw") == 303
    before = signin.sign_in(live.store, "admin", "first secret pw", "127.0.0.9")
    monkeypatch.setattr("sys.stdin", io.StringIO("second secret pw\n"))
    assert main(["users", "set-password", "admin", "--password-stdin"]) == 0
    assert signin.principal_for_cookie(live.store, before.cookie_value) is None
    assert _sign_in(live.url, "second secret pw") == 303
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert main(["users", "set-password", "nobody", "--password-stdin"]) == 1


def test_set_password_in_the_store(config, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import LiveServer

    monkeypatch.setattr("sys.stdin", io.StringIO("local secret pw\n"))
    args = ["users", "set-password", "admin", "--password-stdin", "--data-dir", str(config.data_dir)]
    if config.database_url:
        args += ["--database-url", config.database_url]
    monkeypatch.setenv("LABKEEPER_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
    assert main(args) == 0
    with LiveServer(config) as server:
        assert _sign_in(server.url, "local secret pw") == 303
        assert _sign_in(server.url, "wrong") == 401
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(args) == 2
