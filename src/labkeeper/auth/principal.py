"""Who is calling: the identity and rights an API key carries for one request."""

from __future__ import annotations

from dataclasses import dataclass

from labkeeper.errors import Forbidden

# Global permissions a group can grant, as the DSS group document names them.
GLOBAL_PERMISSIONS = (
    "mayCreateProjects",
    "mayCreateCodeEnvs",
    "mayManageCodeEnvs",
    "mayWriteUnsafeCode",
    "mayWriteSafeCode",
    "mayCreateConnections",
    "mayCreateAuthenticatedConnections",
    "mayRunNotebooks",
    "mayReadMetrics",  # GET /metrics (server/probes.py)
)


@dataclass(frozen=True)
class Principal:
    login: str | None  # the DSS user the call acts as; None for a global key with no user
    groups: frozenset[str]
    admin: bool
    permissions: frozenset[str]
    key_id: str
    key_kind: str  # GLOBAL | PERSONAL | SESSION | PROXY (an admin key acting as `login`)
    # With X-DKU-ProxyUser: the name of the admin key's own principal, which acts as `login`
    # with exactly `login`'s rights (see auth/proxy.py).
    proxied_by: str | None = None

    @property
    def name(self) -> str:
        """The name recorded as owner or actor."""
        return self.login or f"apikey:{self.key_id}"

    @property
    def audit_name(self) -> str:
        """Who the audit log says acted: "admin as bob" for a call made through X-DKU-ProxyUser."""
        return self.name if self.proxied_by is None else f"{self.proxied_by} as {self.name}"

    @property
    def is_session(self) -> bool:
        """A notebook session's key (or a call proxied through one): it may never manage keys."""
        return self.key_kind == "SESSION"

    def has(self, permission: str) -> bool:
        return self.admin or permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.has(permission):
            raise Forbidden(
                f"Action forbidden: the global permission '{permission}' is required",
                detail=f"{self.name} lacks the global permission '{permission}'; "
                "an admin can grant it to one of the caller's groups",
            )

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden(
                "Action forbidden: administrator rights are required",
                detail=f"{self.name} is not an administrator; this call needs an admin key or user",
            )
