"""Who may do what with a code env.

Creating an env needs the global permission `mayCreateCodeEnvs` (registering a non-managed
env by path needs an admin); the env's owner, `mayManageCodeEnvs` holders and admins may
update and delete it; members of a group listed in the env's `permissions` may use it
(`use`), update its packages (`update`) or also change its permissions (`manage`);
`usableByAll` lets everyone use it.
"""

from __future__ import annotations

from labkeeper.auth.principal import Principal
from labkeeper.codeenvs.models import CodeEnv
from labkeeper.db import Store
from labkeeper.errors import Forbidden


def group_flags(env: CodeEnv, principal: Principal) -> set[str]:
    flags: set[str] = set()
    for entry in env.permissions or []:
        if isinstance(entry, dict) and entry.get("group") in principal.groups:
            flags |= {flag for flag in ("use", "update", "manage") if entry.get(flag) is True}
    return flags


def is_manager(env: CodeEnv, principal: Principal) -> bool:
    return principal.has("mayManageCodeEnvs") or env.owner == principal.name


def can_use(env: CodeEnv, principal: Principal) -> bool:
    return is_manager(env, principal) or env.usable_by_all or bool(group_flags(env, principal))


def can_update(env: CodeEnv, principal: Principal) -> bool:
    return is_manager(env, principal) or bool(group_flags(env, principal) & {"update", "manage"})


def can_manage(env: CodeEnv, principal: Principal) -> bool:
    return is_manager(env, principal) or "manage" in group_flags(env, principal)


def require_right(allowed: bool, principal: Principal, env: CodeEnv, action: str) -> None:
    if not allowed:
        raise Forbidden(
            f"Action forbidden: you may not {action} code env {env.name!r}",
            detail=f"{principal.name} may not {action} code env {env.name!r}: this needs its owner "
            f"({env.owner}), the global permission 'mayManageCodeEnvs', or a group permission on the env",
        )


def may_use(store: Store, principal: Principal, lang: str, name: str) -> bool:
    """For other domains (notebooks, recipes): may `principal` pick this env?"""
    with store.read() as s:
        env = s.get(CodeEnv, (lang.upper(), name))
        return env is not None and can_use(env, principal)
