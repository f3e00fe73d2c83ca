"""The one HTTP path of labkeeper's client: a persistent `httpx.Client` and its helpers.

`Requester` is the base of `DSSClient`. It owns one `httpx.Client` (so connections are
reused across calls), whose base URL is `<host>/dip/publicapi`, and turns every error
answer into a `DataikuException` subclass (see `_exceptions`). Handles (`DSSProject`,
`DSSUser`, a future, ...) keep a reference to the client and call these helpers; each
takes a path relative to the API base, optional query `params` (None values are dropped)
and an optional JSON `body`:

    client._perform_json(method, path, params=None, body=None)   -> decoded JSON (None if empty)
    client._perform_empty(method, path, params=None, body=None)  -> None (the answer is ignored)
    client._perform_text(method, path, params=None, body=None)   -> str
    client._perform_raw(method, path, params=None, body=None)    -> streamed httpx.Response;
                                                                    the caller closes it
    client._perform_http(...)                                     -> httpx.Response, read

`raw_body` (bytes or str) replaces the JSON body, `files` sends a multipart upload and
`headers` adds request headers. `path_segment(value)` percent-encodes one path segment
(a login, a key id, a project key) so names with `/`, spaces or `%` reach the right route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from labkeeper.client._exceptions import error_from_response

API_BASE_PATH = "/dip/publicapi"

# Connecting should be quick; a call that waits for a build or a deletion may take minutes.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)

Params = Mapping[str, Any] | None


def path_segment(value: object) -> str:
    """Percent-encode one path segment (nothing is left unescaped, not even `/`)."""
    return quote(str(value), safe="")


def _clean_params(params: Params) -> dict[str, Any] | None:
    if not params:
        return None
    return {name: value for name, value in params.items() if value is not None}


def _encode_body(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


class Requester:
    """Holds the HTTP client and the `_perform_*` helpers every handle calls."""

    host: str
    _http: httpx.Client

    def _perform_http(
        self,
        method: str,
        path: str,
        params: Params = None,
        body: Any = None,
        files: Any = None,
        raw_body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        request_headers = dict(headers or {})
        content: bytes | str | None = None
        if raw_body is not None:
            content = raw_body
        elif body is not None:
            content = _encode_body(body)
            request_headers.setdefault("Content-Type", "application/json")
        request = self._http.build_request(
            method,
            path,
            params=_clean_params(params),
            content=content,
            files=files,
            headers=request_headers,
        )
        response = self._http.send(request, stream=stream)
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise error_from_response(response)
        return response

    def _perform_empty(
        self,
        method: str,
        path: str,
        params: Params = None,
        body: Any = None,
        files: Any = None,
        raw_body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._perform_http(method, path, params, body, files, raw_body, headers)

    def _perform_text(
        self,
        method: str,
        path: str,
        params: Params = None,
        body: Any = None,
        files: Any = None,
        raw_body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        return self._perform_http(method, path, params, body, files, raw_body, headers).text

    def _perform_json(
        self,
        method: str,
        path: str,
        params: Params = None,
        body: Any = None,
        files: Any = None,
        raw_body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        content = self._perform_http(method, path, params, body, files, raw_body, headers).content
        if not content.strip():
            return None
        return orjson.loads(content)

    def _perform_raw(
        self,
        method: str,
        path: str,
        params: Params = None,
        body: Any = None,
        files: Any = None,
        raw_body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self._perform_http(method, path, params, body, files, raw_body, headers, stream=True)
