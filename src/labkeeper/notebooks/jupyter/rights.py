"""Who may run code in a kernel: the one place the notebooks domain decides it.

Starting a kernel (a session, or a notebook run that starts one) and running cells in an
existing one need, besides WRITE on the project (`projects.access`):

- the global permission `mayRunNotebooks`;
- `mayWriteSafeCode` when the kernel runs as an account of the creator's own (impersonation
  on), `mayWriteUnsafeCode` when it does not (the shared `labkeeper-kernel` account, or the
  server's own account when labkeeper is not root): DSS's "safe"/"unsafe" code;
- the `use` right on the code env whose kernelspec the notebook names (admins, the env's
  owner, `mayManageCodeEnvs`, `usableByAll`, or a group with `use`: `codeenvs.rights`).

Project permissions grant no code rights: a project's WRITE lets a user edit notebooks, the
global permissions (held by the user's groups) decide whether they may execute them. Admins
have every right.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import select

from labkeeper.auth.principal import Principal
from labkeeper.codeenvs.models import CodeEnv
from labkeeper.codeenvs.rights import can_use
from labkeeper.db import Store
from labkeeper.errors import Forbidden
from labkeeper.isolation.accounts import KERNEL_ACCOUNT
from labkeeper.isolation.identity import UnixIdentity

RUN = "mayRunNotebooks"
SAFE = "mayWriteSafeCode"
UNSAFE = "mayWriteUnsafeCode"


def _refuse(principal: Principal, permission: str, why: str) -> None:
    raise Forbidden(
        f"Action forbidden: the global permission '{permission}' is required {why}",
        detail=f"{principal.name} lacks the global permission '{permission}', needed {why}. An admin can "
        "grant it to one of the user's groups",
    )


def require_may_run(principal: Principal) -> None:
    if not principal.has(RUN):
        _refuse(principal, RUN, "to run notebook kernels")


def code_permission(*, per_user: bool) -> str:
    return SAFE if per_user else UNSAFE


def require_code_right(principal: Principal, ident: UnixIdentity) -> None:
    """mayRunNotebooks, then the safe/unsafe code right matching the kernel's account.

    A notebook session's own key may not start kernels: the new session, and its key, would
    outlive the session that asked for it."""
    if principal.is_session:
        raise Forbidden(
            "Action forbidden: a notebook session's key cannot start notebook kernels",
            detail="Code running in a notebook session acts with a key that ends with the session, so it "
            "cannot start other sessions or runs, which would outlive it. Start them with a personal key",
        )
    require_may_run(principal)
    permission = code_permission(per_user=ident.per_user)
    if not principal.has(permission):
        where = (
            f"to run code as UNIX user {ident.name} (impersonated)"
            if ident.per_user
            else f"to run code as the shared UNIX account {ident.name} (impersonation is off)"
        )
        _refuse(principal, permission, where)


def require_code_right_in_session(principal: Principal, row: Any) -> None:
    """The same check for running cells in an existing session, from its stored account."""
    require_may_run(principal)
    per_user = row.unix_owner != KERNEL_ACCOUNT and row.unix_uid != os.geteuid()
    if not principal.has(code_permission(per_user=per_user)):
        how = "(impersonated)" if per_user else "(not impersonated)"
        _refuse(
            principal, code_permission(per_user=per_user), f"to run code as UNIX user {row.unix_owner} {how}"
        )


def require_env_use(store: Store, principal: Principal, env_name: str | None, kernel_name: str) -> None:
    """403 naming the env unless `principal` may use the code env behind `kernel_name`."""
    if env_name is None or principal.admin:
        return
    with store.read() as s:
        env = s.get(CodeEnv, ("PYTHON", env_name))
        allowed = env is not None and can_use(env, principal)
    if not allowed:
        raise Forbidden(
            f"Action forbidden: you may not use code env {env_name!r} (kernel {kernel_name!r})",
            detail=f"{principal.name} may not use code env {env_name!r}, whose kernel {kernel_name!r} the "
            "notebook names: this needs the env's owner, usableByAll, or a group with the 'use' right on "
            "it. Pick another kernel in the notebook's metadata.kernelspec.name, or ask the env's owner",
        )


def usable_envs(store: Store, principal: Principal, env_names: set[str]) -> set[str]:
    """Which of `env_names` (Python code envs) `principal` may use."""
    if principal.admin:
        return set(env_names)
    if not env_names:
        return set()
    with store.read() as s:
        envs = s.scalars(select(CodeEnv).where(CodeEnv.lang == "PYTHON", CodeEnv.name.in_(env_names))).all()
        return {env.name for env in envs if can_use(env, principal)}
