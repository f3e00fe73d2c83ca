"""`DSSClient`, the entry point: credentials, the HTTP connection pool, and the methods of
every domain (each domain's methods live with its handles, in `_users`, `_settings`, ...)."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from labkeeper.client._apikeys import ApiKeyMethods
from labkeeper.client._archives import ArchiveMethods
from labkeeper.client._codeenvs import CodeEnvMethods
from labkeeper.client._connections import ConnectionMethods
from labkeeper.client._futures import FutureMethods
from labkeeper.client._http import API_BASE_PATH, DEFAULT_TIMEOUT
from labkeeper.client._jupyter import RunningNotebookMethods
from labkeeper.client._nodes import NodeMethods
from labkeeper.client._projects import ProjectMethods
from labkeeper.client._settings import SettingsMethods
from labkeeper.client._usage import ReportMethods
from labkeeper.client._users import UserMethods

TimeoutSpec = float | httpx.Timeout | None


def _tls_verify(
    no_check_certificate: bool, client_certificate: str | tuple[str, str] | None
) -> bool | ssl.SSLContext:
    if client_certificate is None:
        return not no_check_certificate
    context = ssl.create_default_context()
    if no_check_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if isinstance(client_certificate, str):
        context.load_cert_chain(client_certificate)
    else:
        context.load_cert_chain(*client_certificate)
    return context


class DSSClient(
    UserMethods,
    SettingsMethods,
    ApiKeyMethods,
    ProjectMethods,
    ArchiveMethods,
    ReportMethods,
    ConnectionMethods,
    RunningNotebookMethods,
    FutureMethods,
    CodeEnvMethods,
    NodeMethods,
):
    """A client of a labkeeper instance, speaking the DSS public API.

    `host` is the instance's URL (`http://localhost:11200`). Authenticate with an
    `api_key` (sent as HTTP Basic, the key as user), an `internal_ticket` or a
    `jwt_bearer_token`. Calls share one pool of keep-alive connections: reuse the client,
    and `close()` it (or use it as a context manager) when done. `timeout` is in seconds,
    or an `httpx.Timeout`, or None for no limit. `transport` replaces the network (tests
    pass an `httpx.MockTransport`).
    """

    def __init__(
        self,
        host: str,
        api_key: str | None = None,
        internal_ticket: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        no_check_certificate: bool = False,
        client_certificate: str | tuple[str, str] | None = None,
        jwt_bearer_token: str | None = None,
        *,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        if "insecure_tls" in kwargs:
            warnings.warn(
                "insecure_tls is deprecated, use no_check_certificate", DeprecationWarning, stacklevel=2
            )
            no_check_certificate = bool(kwargs.pop("insecure_tls")) or no_check_certificate
        if kwargs:
            raise TypeError(f"DSSClient() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        self.host = host
        self.api_key = api_key
        self.internal_ticket = internal_ticket
        self.jwt_bearer_token = jwt_bearer_token
        headers: dict[str, str] = {}
        auth: httpx.Auth | None = None
        if api_key is not None:
            auth = httpx.BasicAuth(api_key, "")
        elif internal_ticket is not None:
            headers["X-DKU-APITicket"] = internal_ticket
        elif jwt_bearer_token is not None:
            headers["Authorization"] = f"Bearer {jwt_bearer_token}"
        else:
            raise ValueError("Authentication is required: pass api_key, internal_ticket or jwt_bearer_token")
        headers.update(extra_headers or {})
        self._http = httpx.Client(
            base_url=host.rstrip("/") + API_BASE_PATH,
            auth=auth,
            headers=headers,
            timeout=timeout,
            verify=_tls_verify(no_check_certificate, client_certificate),
            transport=transport,
        )

    def close(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> DSSClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DSSClient({self.host!r})"
