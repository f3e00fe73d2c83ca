"""The UNIX account a kernel runs as: `kernel_identity` is the one place deciding it.

- `impersonation.enabled` and labkeeper running as root: the impersonation rules map the
  session's creator (in the session's project) onto an account of their own. Root and
  accounts whose uid is below `minTargetUid` are never targets.
- impersonation off and labkeeper running as root: the dedicated unprivileged account
  `labkeeper-kernel` (isolation/accounts.py), shared by every user's kernels, which
  reaches nothing of the data directory but `run/`. Kernels never run as root.
- labkeeper not running as root: it cannot switch accounts, so kernels run as the server's
  own account (and can read what the server can).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkeeper.errors import BadRequest, Conflict, Forbidden
from labkeeper.settings.impersonation import resolve


@dataclass(frozen=True)
class UnixIdentity:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    impersonated: bool  # True: a kernel of this identity is launched with setuid/setgid
    # True for a service account that runs the code of every user (labkeeper-kernel): code
    # there is "unsafe" in the DSS sense (mayWriteUnsafeCode), as with no impersonation.
    shared: bool = False

    @property
    def per_user(self) -> bool:
        """The kernel runs as an account of its creator's own (DSS: impersonated, safe code)."""
        return self.impersonated and not self.shared

    def popen_kwargs(self) -> dict[str, Any]:
        """Popen arguments that make the child run as this account (empty for the server's own)."""
        if not self.impersonated:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def group_names(self) -> list[str]:
        names = []
        for gid in self.groups:
            try:
                names.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                names.append(str(gid))
        return names


def server_identity() -> UnixIdentity:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return UnixIdentity(
        name=name, uid=uid, gid=os.getegid(), groups=tuple(os.getgroups()), impersonated=False
    )


def target_identity(unix_user: str, *, min_uid: int, login: str) -> UnixIdentity:
    """The account `unix_user`, refused when it is root, a system account or unknown."""
    if unix_user == "root":
        raise Forbidden(
            f"User {login} maps onto UNIX user 'root', which is never an impersonation target",
            detail=f"User {login} maps onto UNIX user 'root': kernels never run as root. An admin must map "
            "this user onto an ordinary account in the impersonation rules",
        )
    try:
        entry = pwd.getpwnam(unix_user)
    except KeyError:
        raise BadRequest(
            f"User {login} maps onto UNIX user {unix_user!r}, which does not exist on this machine",
            detail=f"User {login} maps onto UNIX user {unix_user!r}, which does not exist on this machine: "
            "create the account (useradd) or fix the impersonation rule",
        ) from None
    if entry.pw_uid == 0 or entry.pw_uid < min_uid:
        raise Forbidden(
            f"User {login} maps onto UNIX user {unix_user!r} (uid {entry.pw_uid}), below the minimum "
            f"target uid {min_uid}: system accounts are never impersonation targets",
            detail=f"UNIX user {unix_user!r} has uid {entry.pw_uid}; impersonation.minTargetUid is "
            f"{min_uid}. An admin must map this user onto an ordinary account",
        )
    groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    return UnixIdentity(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, impersonated=True)


def kernel_identity(
    impersonation: dict[str, Any], *, login: str, groups: list[str], project_key: str | None
) -> UnixIdentity:
    """The account a kernel of `login` in `project_key` runs as, under these settings (no
    project: a terminal's, which project-scoped rules do not name)."""
    if not impersonation.get("enabled"):
        if os.geteuid() != 0:
            return server_identity()  # cannot switch: the README says so
        from labkeeper.isolation.accounts import KERNEL_ACCOUNT, service_account

        return service_account(KERNEL_ACCOUNT)
    if os.geteuid() != 0:
        me = server_identity().name
        raise Conflict(
            f"User isolation is enabled but labkeeper runs as UNIX user {me!r}, not root: it cannot start "
            "a kernel as another user",
            detail=f"impersonation.enabled is true but labkeeper runs as {me!r}. Run labkeeper as root, or "
            "turn impersonation off in the general settings",
        )
    resolution = resolve(impersonation, login=login, groups=groups, project_key=project_key)
    min_uid = impersonation.get("minTargetUid", 1000)
    min_uid = min_uid if isinstance(min_uid, int) and not isinstance(min_uid, bool) else 1000
    return target_identity(resolution.unix_user, min_uid=max(1, min_uid), login=login)


# ---------------------------------------------------------------- what an account may reach

_R, _W, _X = 4, 2, 1


def _allowed(st: os.stat_result, ident: UnixIdentity, want: int) -> bool:
    if ident.uid == 0:
        return True
    if st.st_uid == ident.uid:
        bits = (st.st_mode >> 6) & 7
    elif st.st_gid == ident.gid or st.st_gid in ident.groups:
        bits = (st.st_mode >> 3) & 7
    else:
        bits = st.st_mode & 7
    return bits & want == want


# Any account that is neither the owner nor in the group: what the `other` mode bits grant.
# The unprivileged accounts user code runs as (labkeeper-build, labkeeper-kernel, users'
# own) reach a path labkeeper owns only through those bits.
OTHERS = UnixIdentity("nobody", 65534, 65534, (), impersonated=True)


def first_denied(path: Path | str, ident: UnixIdentity, want: int = _R | _X) -> str | None:
    """The first path component `ident` may not pass through (or use with `want`), or None.

    Follows symlinks the way the kernel does: every directory on the way needs search (x)
    permission and the target needs `want`. Checked by mode bits, without switching users.
    """
    path = Path(os.path.abspath(path))
    seen: set[str] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if str(current) in seen:
            continue
        seen.add(str(current))
        parts = current.parts
        for i in range(1, len(parts)):
            folder = Path(*parts[:i])
            try:
                st = os.stat(folder)
            except OSError:
                return str(folder)
            if not _allowed(st, ident, _X):
                return str(folder)
        try:
            lst = os.lstat(current)
        except OSError:
            return str(current)
        if stat.S_ISLNK(lst.st_mode):
            target = Path(os.readlink(current))
            todo.append(Path(os.path.normpath(target if target.is_absolute() else current.parent / target)))
            continue
        if not _allowed(lst, ident, want):
            return str(current)
    return None
