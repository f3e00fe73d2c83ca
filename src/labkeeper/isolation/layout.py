"""The data directory as other UNIX accounts see it.

    data_dir/                 0711  traversable, not listable: nothing can be found by listing
      labkeeper.db*, initial-admin-key, secrets, projects/, jupyter/, ...
                              owner-only (group/other bits removed by `seal`): the store, the
                              keys, the notebooks and kernelspecs are the server's alone
      run/                    0711  the only subtree meant for other accounts
        kernel-lib/           0755  labkeeper's client and the `dataiku` module, on every
                                    kernel's PYTHONPATH (code, no secrets)
        homes/<user>/         0700  owned by <user>: HOME of that account's kernels
        projects/<KEY>/       0711
          <user>/             0700  owned by <user>: working directory of its kernels there
        kernels/              0711  connection files, each 0600 and owned by its kernel's user

    /run/labkeeper/<hash>/    0711  root-owned (when labkeeper runs as root), <hash> names the
                                    data directory; /tmp/lk-<uid>/<hash>/ otherwise
        <session id>/         0700  owned by the kernel's user: the kernel's IPC sockets

IPC socket paths must fit in 108 bytes (sun_path). They live under that short base, never
under the data directory (whose path may be long), so a kernel is always reached over IPC
sockets only its own account can open; no TCP port is ever opened for a kernel.

Before an impersonated kernel starts, `seal` makes the root 0711 and strips group/other
permissions from every other entry of the root, except `run/`, `code-envs/` (0711, its
logs and caches closed by the builds, see codeenvs/sandbox.py) and the folders holding
code-env interpreters (which impersonated kernels must execute). While impersonation is off
the root stays as created (0700). SQLite creates its -wal/-shm files with the database
file's own mode, so sealing the database file covers them.

Directories owned by a kernel's user are only ever created inside root-owned parents, and
an existing one that is a symlink or belongs to someone else is replaced, never followed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from labkeeper.errors import Conflict
from labkeeper.isolation.identity import UnixIdentity
from labkeeper.names import check_project_key

RUN = "run"
CODE_ENVS = "code-envs"  # 0711 itself; envs readable, logs and caches closed (codeenvs/sandbox.py)
TRAVERSE_ONLY = 0o711


class RunTree:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / RUN
        self.kernel_lib = self.root / "kernel-lib"
        self.homes = self.root / "homes"
        self.projects = self.root / "projects"
        self.connections = self.root / "kernels"
        self.sockets = socket_base(self.data_dir)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in (self.root, self.homes, self.projects, self.connections):
            _root_owned_dir(folder, TRAVERSE_ONLY)
        _secure_base(self.sockets)

    # -- sealing --------------------------------------------------------------------------
    def seal(self, shared: Iterable[str] = ()) -> None:
        """Open the root for traversal only, and close every private entry of it."""
        keep = {RUN, CODE_ENVS, *shared}
        os.chmod(self.data_dir, TRAVERSE_ONLY)
        for entry in os.scandir(self.data_dir):
            if entry.name in keep:
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                continue  # a symlink's own mode means nothing; its target is not ours to change
            if st.st_mode & 0o077:
                os.chmod(entry.path, stat.S_IMODE(st.st_mode) & 0o700)

    def shared_roots(self, paths: Iterable[str]) -> set[str]:
        """Top-level entries of the data dir that hold any of `paths` (e.g. interpreters)."""
        found = set()
        base = os.path.abspath(self.data_dir)
        for path in paths:
            absolute = os.path.abspath(path)
            if absolute.startswith(base + os.sep):
                found.add(Path(os.path.relpath(absolute, base)).parts[0])
        return found - {RUN}

    # -- per-user folders -------------------------------------------------------------------
    def home(self, ident: UnixIdentity) -> Path:
        return _user_dir(self.homes / ident.name, ident)

    def work_dir(self, project_key: str, ident: UnixIdentity) -> Path:
        project = self.projects / check_project_key(project_key)
        _root_owned_dir(project, TRAVERSE_ONLY)
        return _user_dir(project / ident.name, ident)

    def socket_dir(self, token: str, ident: UnixIdentity) -> Path:
        _secure_base(self.sockets)  # /run is a tmpfs: it may have been emptied since start
        return _user_dir(self.sockets / token, ident)

    def connection_file(self, kernel_id: str) -> Path:
        return self.connections / f"kernel-{kernel_id}.json"

    def remove_project(self, project_key: str) -> None:
        shutil.rmtree(self.projects / check_project_key(project_key), ignore_errors=True)


def socket_base(data_dir: Path) -> Path:
    """The short folder holding this data directory's kernel sockets (see the module doc)."""
    tag = hashlib.sha256(os.path.abspath(data_dir).encode()).hexdigest()[:12]
    if os.geteuid() == 0 and os.path.isdir("/run"):
        return Path("/run/labkeeper") / tag
    return Path(tempfile.gettempdir()) / f"lk-{os.geteuid()}" / tag


def _secure_base(base: Path) -> None:
    """Create `base` and its parent as ours (0711), refusing anything another account made.

    The parent may sit in a world-writable folder (/tmp): it is created with mkdir (which
    never follows a symlink at its last component), then checked with lstat: a symlink, a
    file or a folder owned by someone else is refused, never followed or reused."""
    for folder in (base.parent, base):
        try:
            folder.mkdir(mode=TRAVERSE_ONLY)
        except FileExistsError:
            pass
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise Conflict(
                f"Cannot keep kernel sockets in {folder}: it is not a folder owned by labkeeper's account",
                detail=f"{folder} is a symlink, a file or belongs to uid {st.st_uid}; labkeeper keeps kernel "
                "IPC sockets there and never follows or shares it. Remove it and restart labkeeper",
            )
        if stat.S_IMODE(st.st_mode) != TRAVERSE_ONLY:
            os.chmod(folder, TRAVERSE_ONLY)


def _root_owned_dir(folder: Path, mode: int) -> None:
    folder.mkdir(exist_ok=True, mode=mode)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeError(f"{folder} is not a directory")
    if st.st_uid != os.geteuid():
        os.chown(folder, os.geteuid(), os.getegid(), follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(folder, mode)


def _user_dir(folder: Path, ident: UnixIdentity) -> Path:
    """A 0700 folder owned by `ident`, inside a root-owned parent."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        folder.unlink()  # a symlink or a file where a folder belongs: never follow it
        st = None
    if st is not None and st.st_uid != ident.uid:
        raise Conflict(
            f"{folder} belongs to uid {st.st_uid}, not to UNIX user {ident.name} (uid {ident.uid})",
            detail=f"{folder} belongs to uid {st.st_uid}, not to {ident.name} (uid {ident.uid}): the account "
            "was probably recreated with another uid. An admin must move that folder away",
        )
    if st is None:
        # Made under a name of its own, then moved into place already owned by `ident`: a
        # start running beside this one never sees it half made (owned by labkeeper).
        made = folder.with_name(f".{folder.name}.{secrets.token_hex(6)}")
        made.mkdir(mode=0o700)
        if ident.impersonated:
            os.chown(made, ident.uid, ident.gid, follow_symlinks=False)
        try:
            os.rename(made, folder)  # replaces at most an empty folder another start just made
        except OSError:
            made.rmdir()
            if not os.path.lexists(folder):
                raise
            return _user_dir(folder, ident)  # another start's, in use already: checked as any
    os.chmod(folder, 0o700)
    return folder
