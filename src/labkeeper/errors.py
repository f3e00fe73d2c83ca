"""Domain exceptions. The server maps each to an HTTP status and the DSS error body.

LabkeeperError                 500  (never raised on purpose)
├── BadRequest                 400  malformed or invalid input
├── Unauthorized               401  no key, unknown/expired/revoked key
├── Forbidden                  403  authenticated but not allowed
│   └── NotMatchedOntoSystemUser    impersonation found no rule for the user
├── NotFound                   404
├── Conflict                   409  name taken, object in use, build running
├── PayloadTooLarge            413
├── TooManyRequests            429  per-user quota reached
├── Unavailable                503  no node can do it now (none up, none undrained)
├── NoAnswer                   504  the node asked to do it did not answer in time
└── TaskFailed                 500-class answer of a failed or aborted future (a future
                               failed on its caller's input answers BadRequest)
"""

from __future__ import annotations


class LabkeeperError(Exception):
    status = 500
    error_type = "InternalError"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message

    def body(self) -> dict[str, str]:
        return {"errorType": self.error_type, "message": self.message, "detailedMessage": self.detail}


class BadRequest(LabkeeperError):
    status = 400
    error_type = "BadRequestException"


class Unauthorized(LabkeeperError):
    status = 401
    error_type = "UnauthorizedException"


class Forbidden(LabkeeperError):
    status = 403
    error_type = "UnauthorizedException"


class NotMatchedOntoSystemUser(Forbidden):
    error_type = "NotMatchedOntoSystemUserException"


class NotFound(LabkeeperError):
    status = 404
    error_type = "NotFoundException"


class Conflict(LabkeeperError):
    status = 409
    error_type = "ConflictException"


class PayloadTooLarge(LabkeeperError):
    status = 413
    error_type = "PayloadTooLargeException"


class TooManyRequests(LabkeeperError):
    status = 429
    error_type = "TooManyRequestsException"


class Unavailable(LabkeeperError):
    status = 503
    error_type = "ServiceUnavailableException"


class NoAnswer(LabkeeperError):
    status = 504
    error_type = "GatewayTimeoutException"


class TaskFailed(LabkeeperError):
    """A future that failed or was aborted, answered to a non-peek status call."""

    status = 500
    error_type = "FutureFailedException"
