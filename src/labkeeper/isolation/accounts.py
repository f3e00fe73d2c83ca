"""The unprivileged accounts labkeeper runs user code as when it runs as root.

- `KERNEL_ACCOUNT` runs notebook kernels while impersonation is off: code a project member
  writes never runs as root, and this account cannot read the store, the keys or the
  notebooks (the data directory is sealed, see isolation/layout.py).
- `labkeeper-build-<n>` runs the code env build holding build slot n (uv, and any build
  backend a package brings): it may write the env it builds and its requester's uv cache
  and nothing else of the data directory. One account per slot, one build per slot at a
  time, everything of the account killed and removed between builds (codeenvs/slots.py).

All are system accounts with a group of their own, no home and no login shell, created on
first use. When labkeeper does not run as root it cannot switch accounts: code then runs as
the server's own account and these functions are not called.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time

from labkeeper.isolation.identity import UnixIdentity

KERNEL_ACCOUNT = "labkeeper-kernel"
BUILD_SLOT_PREFIX = "labkeeper-build-"
_NOLOGIN = next((p for p in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(p)), "/bin/false")


def can_switch_accounts() -> bool:
    return os.geteuid() == 0


def build_slot_account(number: int) -> UnixIdentity:
    """The account of build slot `number` (1, 2, ...), created on first use."""
    return service_account(f"{BUILD_SLOT_PREFIX}{number}")


def existing_build_slots() -> dict[int, UnixIdentity]:
    """The build slot accounts this machine has, by slot number (none is created)."""
    found = {}
    for entry in pwd.getpwall():
        number = entry.pw_name.removeprefix(BUILD_SLOT_PREFIX)
        if entry.pw_name.startswith(BUILD_SLOT_PREFIX) and number.isdigit() and entry.pw_uid != 0:
            found[int(number)] = UnixIdentity(
                entry.pw_name, entry.pw_uid, entry.pw_gid, (entry.pw_gid,), impersonated=True, shared=True
            )
    return found


def service_account(name: str) -> UnixIdentity:
    """The system account `name` (created on first use) as an identity to launch code as."""
    entry = _lookup(name)
    if entry is None:
        _create(name)
        entry = _lookup(name)
        if entry is None:
            raise RuntimeError(f"could not create the system account {name!r}")
    if entry.pw_uid == 0:
        raise RuntimeError(f"the system account {name!r} has uid 0: labkeeper never runs user code as root")
    return UnixIdentity(
        entry.pw_name, entry.pw_uid, entry.pw_gid, (entry.pw_gid,), impersonated=True, shared=True
    )


def _lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _create(name: str) -> None:
    # useradd takes a lock on /etc/passwd: processes creating accounts at the same moment
    # (several workers starting) fail with exit 1 or 10 and try again.
    command = [
        "useradd",
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        _NOLOGIN,
        name,
    ]
    for _ in range(50):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0 or _lookup(name) is not None:
            return
        if done.returncode not in (1, 10):  # 1: cannot update passwd, 10: cannot update group
            raise RuntimeError(f"useradd {name} failed: {done.stderr.strip()}")
        time.sleep(0.1)
    raise RuntimeError(f"useradd {name} kept failing: the account database stays locked")
