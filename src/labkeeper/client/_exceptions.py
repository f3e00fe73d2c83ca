"""Errors raised by labkeeper's client when the server answers with an error status.

    DataikuException              any answer with status >= 400 (and the base to catch)
    ├── BadRequestError           400  the request was malformed or invalid
    ├── UnauthorizedError         401  no key, or an unknown, expired or revoked key
    ├── ForbiddenError            403  the key is valid but not allowed to do this
    ├── NotFoundError             404  no such object (or no such route)
    ├── ConflictError             409  name taken, object in use, build running
    └── TooManyRequestsError      429  a per-user quota was reached

Every error carries `status_code`, `error_type` (the server's `errorType`), `message` and
`detailed_message`; `str(error)` is `"<errorType>: <detailedMessage>"`, the form scripts
written for the DSS public API already print and match on. Other statuses (413, 5xx, ...)
raise `DataikuException` itself. Failures below HTTP (connection refused, timeouts) are
`httpx.TransportError` subclasses and are not wrapped.
"""

from __future__ import annotations

from typing import Any

import httpx


class DataikuException(Exception):
    """The server answered with an error status; see the module docstring for subclasses."""

    def __init__(
        self,
        text: str = "",
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        message: str | None = None,
        detailed_message: str | None = None,
    ) -> None:
        super().__init__(text)
        self.status_code = status_code
        self.error_type = error_type
        self.message = message if message is not None else text
        self.detailed_message = detailed_message if detailed_message is not None else self.message


class BadRequestError(DataikuException):
    """400: the request was malformed or invalid; the message says what to fix."""


class UnauthorizedError(DataikuException):
    """401: no API key was sent, or it is unknown, expired or revoked."""


class ForbiddenError(DataikuException):
    """403: the key is valid but its user may not do this."""


class NotFoundError(DataikuException):
    """404: the object (or the route) does not exist."""


class ConflictError(DataikuException):
    """409: the name is taken, or the object is in use or busy."""


class TooManyRequestsError(DataikuException):
    """429: a per-user quota was reached; retry later or free something up."""


_BY_STATUS: dict[int, type[DataikuException]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: TooManyRequestsError,
}


def error_from_response(response: httpx.Response) -> DataikuException:
    """Build the exception for an error answer, reading the DSS error body when there is one."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()
        body = {"message": text or f"HTTP {response.status_code} {response.reason_phrase}".strip()}
    error_type = str(body.get("errorType") or "Unknown error")
    message = str(body.get("message") or body.get("detailedMessage") or "No message")
    detailed = str(body.get("detailedMessage") or message)
    cls = _BY_STATUS.get(response.status_code, DataikuException)
    return cls(
        f"{error_type}: {detailed}",
        status_code=response.status_code,
        error_type=error_type,
        message=message,
        detailed_message=detailed,
    )
