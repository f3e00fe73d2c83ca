"""Who a /lab request is: one identity provider for jupyter_server, over labkeeper's sign-ins.

A request is signed in by a labkeeper API key (`Authorization: token KEY` or `Bearer KEY`,
what Jupyter's own clients send) or by the console's session cookie (`console/signin.py`).
It then acts with exactly the rights the same user has on the API: the contents and kernel
managers receive the `Principal` through `current_principal()`, set here for the request
(a context variable: each Tornado request runs in a task of its own).

Lab never acts as a global key that names no user, and never as nobody: a request that is
not signed in is refused by jupyter_server (403 for the API, the sign-in page for pages).
Cross-origin requests are checked for every request, token-authenticated ones included.
"""

from __future__ import annotations

import contextvars
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web

from labkeeper.auth.authenticate import authenticate
from labkeeper.auth.keys import secrets_from_header
from labkeeper.auth.principal import Principal
from labkeeper.console.signin import COOKIE_NAME, principal_for_cookie
from labkeeper.db import Store
from labkeeper.errors import LabkeeperError

# Set for each request by the identity provider. UNSIGNED marks a request that is not signed
# in (the managers then refuse everything); unset means labkeeper itself calls (no request).
UNSIGNED = Principal(
    login=None, groups=frozenset(), admin=False, permissions=frozenset(), key_id="", key_kind="NONE"
)
_CURRENT: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("lab_principal", default=None)
# The address kernels reach labkeeper at (what the API's session routes give them): the proxy
# passes the socket the caller reached in SERVER_URL_HEADER, always its own value.
SERVER_URL_HEADER = "X-Labkeeper-Server-Url"
SERVER_URL: contextvars.ContextVar[str | None] = contextvars.ContextVar("lab_server_url", default=None)


def current_principal() -> Principal | None:
    """The principal of the /lab request being served; None when no request is (labkeeper's own
    calls); `UNSIGNED` when the request is not signed in."""
    return _CURRENT.get()


def require_principal() -> Principal:
    principal = _CURRENT.get()
    if principal is None or principal is UNSIGNED or principal.login is None:
        raise web.HTTPError(403, "Sign in to use JupyterLab")
    return principal


class LabIdentityProvider(IdentityProvider):
    """labkeeper's API keys and console sign-ins, for jupyter_server. `store` is set by the
    server that builds it (lab/server.py)."""

    store: Store | None = None

    def get_handlers(self) -> list[tuple[str, object]]:
        return []  # signing in and out is the console's (/login, /logout)

    @property
    def login_available(self) -> bool:
        return False

    @property
    def logout_available(self) -> bool:
        return False

    def should_check_origin(self, handler: web.RequestHandler) -> bool:
        return True

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        principal, by_token = self._principal(handler)
        _CURRENT.set(principal or UNSIGNED)
        SERVER_URL.set(handler.request.headers.get(SERVER_URL_HEADER))
        if principal is None:
            return None
        handler._token_authenticated = by_token  # type: ignore[attr-defined]
        handler.labkeeper_principal = principal  # type: ignore[attr-defined]
        login = principal.login or ""
        return User(username=login, name=login, display_name=login, initials=login[:2].upper())

    def _principal(self, handler: web.RequestHandler) -> tuple[Principal | None, bool]:
        assert self.store is not None, "the Lab server sets the store"
        header = handler.request.headers.get("Authorization")
        if header:
            secret = _secret_of(header)
            if secret is None:
                return None, True
            try:
                principal = authenticate(self.store, secret)
            except LabkeeperError:
                return None, True
            return (principal if principal.login is not None else None), True
        cookie = handler.get_cookie(COOKIE_NAME)
        if cookie:
            return principal_for_cookie(self.store, cookie), False
        return None, False

    def get_login_url(self, handler: Any) -> str:  # pages without a sign-in go to the console's
        return "/login"


def _secret_of(header: str) -> str | None:
    """The key of `Authorization: token KEY` (Jupyter's clients), `Bearer KEY` or HTTP Basic."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "token":
        value = value.strip()
        return value or None
    candidates = secrets_from_header(header)
    return candidates[0] if candidates else None
