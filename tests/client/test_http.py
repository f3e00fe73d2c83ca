"""Request shaping and error mapping, against an httpx MockTransport (no network)."""

from __future__ import annotations

import base64
import socket
import threading
import warnings

import httpx
import pytest

from labkeeper.client import (
    BadRequestError,
    ConflictError,
    DataikuException,
    DSSClient,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from tests.client.recording import HOST, KEY, Recorder
from tests.helpers import returns


def test_base_path_and_basic_auth_with_the_key_as_user() -> None:
    rec = Recorder({("GET", "/admin/groups/"): [{"name": "g"}]})
    with rec.client() as client:
        assert client.list_groups() == [{"name": "g"}]
    call = rec.last
    assert call.path == "/admin/groups/"
    scheme, _, value = call.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == f"{KEY}:"


def test_other_credentials_and_extra_headers() -> None:
    rec = Recorder({("GET", "/admin/groups/"): []})
    transport = httpx.MockTransport(rec.handle)
    DSSClient(HOST, jwt_bearer_token="tok", transport=transport).list_groups()
    assert rec.last.headers["authorization"] == "Bearer tok"
    DSSClient(HOST, internal_ticket="tick", extra_headers={"X-Extra": "1"}, transport=transport).list_groups()
    assert rec.last.headers["x-dku-apiticket"] == "tick"
    assert rec.last.headers["x-extra"] == "1"
    with pytest.raises(ValueError, match="Authentication is required"):
        DSSClient(HOST)
    with pytest.raises(TypeError, match="bogus"):
        DSSClient(HOST, KEY, bogus=1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        DSSClient("https://lab.example", KEY, insecure_tls=True).close()
    assert any(issubclass(w.category, DeprecationWarning) for w in seen)


def test_host_with_trailing_slash_and_json_body() -> None:
    rec = Recorder({("POST", "/admin/groups/"): None})
    client = DSSClient(HOST + "/", KEY, transport=httpx.MockTransport(rec.handle))
    group = client.create_group("data team", description="d")
    assert group.name == "data team"
    assert rec.last.path == "/admin/groups/"
    assert rec.last.headers["content-type"] == "application/json"
    assert rec.last.body == {"name": "data team", "description": "d", "sourceType": "LOCAL"}


def test_none_params_are_dropped_and_booleans_are_sent() -> None:
    rec = Recorder({("GET", "/admin/audit"): [], ("GET", "/admin/users/"): []})
    client = rec.client()
    client.get_audit_log(limit=5)
    assert rec.last.params == {"limit": ["5"]}
    client.list_users(include_settings=True)
    assert rec.last.params["includeSettings"][0].lower() == "true"


def test_path_segments_are_escaped() -> None:
    rec = Recorder({("GET", "/admin/users/a%2Fb%20c"): {"login": "a/b c", "enabled": True}})
    settings = rec.client().get_user("a/b c").get_settings()
    assert settings.get_raw()["login"] == "a/b c"


def test_one_persistent_http_client_is_reused() -> None:
    rec = Recorder({("GET", "/admin/groups/"): []})
    client = rec.client()
    pool = client._http
    client.list_groups()
    client.get_group("g")  # a lazy handle: no request
    client.list_groups()
    assert client._http is pool
    assert len(rec.calls) == 2
    client.close()
    with pytest.raises(RuntimeError):
        client.list_groups()


def test_timeout_is_configurable() -> None:
    client = DSSClient(HOST, KEY, timeout=2.5)
    assert client._http.timeout == httpx.Timeout(2.5)
    client.close()
    assert DSSClient(HOST, KEY)._http.timeout.connect == 10.0


def test_a_server_that_never_answers_times_out() -> None:
    """A real socket that accepts and stays silent: the configured read timeout fires."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    client = DSSClient(f"http://127.0.0.1:{listener.getsockname()[1]}", KEY, timeout=0.3)
    # The call returning at all is the proof: the server never answers, so only the read
    # timeout ends it. The guard is far above the 0.3 s configured.
    _, raised = returns(client.list_groups, 30, "a call to a server that never answers")
    assert isinstance(raised, httpx.ReadTimeout), raised
    client.close()
    for sock in accepted:
        sock.close()
    listener.close()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, TooManyRequestsError),
        (500, DataikuException),
        (413, DataikuException),
    ],
)
def test_error_statuses_map_to_exception_classes(status: int, cls: type[DataikuException]) -> None:
    body = {"errorType": "SomeException", "message": "short", "detailedMessage": "the long story"}
    rec = Recorder({("GET", "/admin/groups/"): lambda _r: httpx.Response(status, json=body)})
    with pytest.raises(DataikuException) as caught:
        rec.client().list_groups()
    error = caught.value
    assert type(error) is cls
    assert str(error) == "SomeException: the long story"
    assert (error.status_code, error.error_type, error.message, error.detailed_message) == (
        status,
        "SomeException",
        "short",
        "the long story",
    )


def test_error_without_a_json_body() -> None:
    rec = Recorder({("GET", "/admin/groups/"): lambda _r: httpx.Response(502, text="Bad gateway from proxy")})
    with pytest.raises(DataikuException) as caught:
        rec.client().list_groups()
    assert str(caught.value) == "Unknown error: Bad gateway from proxy"
    assert caught.value.status_code == 502


def test_error_with_only_a_message() -> None:
    rec = Recorder({("GET", "/admin/groups/"): lambda _r: httpx.Response(404, json={"message": "gone"})})
    with pytest.raises(NotFoundError, match="^Unknown error: gone$"):
        rec.client().list_groups()


def test_streamed_raw_answer_and_streamed_error() -> None:
    rec = Recorder(
        {
            ("GET", "/raw"): lambda _r: httpx.Response(200, content=b"abc" * 1000),
            ("GET", "/bad"): lambda _r: httpx.Response(
                409, json={"errorType": "ConflictException", "detailedMessage": "busy"}
            ),
        }
    )
    client = rec.client()
    response = client._perform_raw("GET", "/raw")
    assert b"".join(response.iter_bytes()) == b"abc" * 1000
    response.close()
    with pytest.raises(ConflictError, match="busy"):
        client._perform_raw("GET", "/bad")
    assert client._perform_text("GET", "/raw").startswith("abcabc")


def test_empty_answer_reads_as_none() -> None:
    rec = Recorder({("PUT", "/x"): None})
    assert rec.client()._perform_json("PUT", "/x", body={"a": 1}) is None
    assert rec.last.body == {"a": 1}
