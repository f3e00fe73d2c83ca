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
)


@dataclass(frozen=True)
class Principal:
    login: str | None  # the DSS user the call acts as; None for a global key with no user
    groups: frozenset[str]
    admin: bool
    permissions: frozenset[str]
    key_id: str
    key_kind: str  # GLOBAL | PERSONAL | SESSION

    @property
    def name(self) -> str:
        """The name recorded as owner or actor."""
        return self.login or f"apikey:{self.key_id}"

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
