"""X-DKU-ProxyUser: an admin key acting as another user, as DSS's `DSSUser.get_client_as()` does.

Only a key with admin rights may send the header; the call then runs with exactly the named
user's rights (their groups and the groups' permissions), as if made with one of their own
personal keys: `GET /current-user` is that user, what the call creates is theirs, and an
admin-only call is a 403 unless the user is an admin. The audit log records "<admin> as
<user>". Proxying through a notebook session's key keeps the session's limits (no key
management).

What a (key, user) pair grants is kept in memory under the `identity` change stamp, like the
key check itself (auth/authenticate.py): disabling or deleting the user, or changing their
groups, is seen by the next request on any worker.
"""

from __future__ import annotations

from labkeeper.auth.authenticate import principal_from_groups, read_user_groups
from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.db.stamps import IDENTITY, Stamps
from labkeeper.errors import BadRequest, Forbidden

HEADER = "X-DKU-ProxyUser"
PROXY, SESSION = "PROXY", "SESSION"
MAX_KNOWN = 10_000
_KNOWN = "known-proxy-users"


def act_as(store: Store, caller: Principal, login: str, stamps: Stamps) -> Principal:
    """The principal of `caller` acting as user `login` (see the module docstring)."""
    if not caller.admin:
        raise Forbidden(
            f"Action forbidden: only an administrator's API key may send {HEADER}",
            detail=f"{caller.name} is not an administrator, so it cannot act as user {login!r}; "
            f"send the call without {HEADER}, with the user's own key",
        )
    stamp = stamps.get(IDENTITY, 0)
    known = store.cache.get(_KNOWN)
    if known is None or known[0] != stamp:
        known = store.cache[_KNOWN] = (stamp, {})
    cache_key = (caller, login)
    principal = known[1].get(cache_key)
    if principal is None:
        principal = _resolve(store, caller, login)
        if len(known[1]) >= MAX_KNOWN:
            known[1].clear()
        known[1][cache_key] = principal
    return principal


def _resolve(store: Store, caller: Principal, login: str) -> Principal:
    found = read_user_groups(store, login)
    if found is None:
        raise BadRequest(
            f"Invalid {HEADER}: user {login[:100]!r} does not exist",
            detail=f"{HEADER} names the user the call acts as; no user has the login {login[:100]!r}",
        )
    enabled, groups, group_rows = found
    if not enabled:
        raise Forbidden(
            f"Action forbidden: user {login!r} is disabled, no call may act as them",
            detail=f"{caller.name} sent {HEADER}: {login}, but that user is disabled; enable the user first",
        )
    return principal_from_groups(
        login=login,
        groups=groups,
        group_rows=group_rows,
        key_admin=False,
        key_id=caller.key_id,
        kind=SESSION if caller.is_session else PROXY,
        proxied_by=caller.audit_name,
    )
