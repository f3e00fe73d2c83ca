"""Where and as whom a build's processes run: the account, the environment, the folders.

Every process of a build (uv venv, uv pip install, bytecode compilation, any build backend a
package brings, the interpreter checks of a non-managed env) runs:
- as the system account of the build slot it holds, `labkeeper-build-<n>`, when labkeeper
  runs as root (never as root), else as the server's own account, which cannot switch. No
  other build runs as that account meanwhile, and nothing the build starts outlives it
  (codeenvs/slots.py: every process of the account is killed before anything is handed
  back to the server);
- with an environment built from nothing: a fixed PATH, HOME and TMPDIR in a folder of this
  build alone, uv's cache and the index settings. No LABKEEPER_* variable, database URL,
  key, proxy or the server's HOME reaches it; index URLs travel in UV_* variables, never in
  argv (every local account may read a process's command line).

Files, when labkeeper runs as root (`prepare` before the build, `finish` after it):

    data_dir/                       0711  traversable only (sealed like for kernels)
      code-envs/                    0711
        python/                     0711
          <env>/                    the slot account's during its build; the server's after
                                    (group/other write, setuid and setgid bits stripped), so
                                    no later build of another env can change it; readable and
                                    executable by every account (kernels run its interpreter)
        cache/users/<digest>/       uv's cache of one labkeeper user (the digest of the login
                                    whose request runs the build): 0700, the slot account's
                                    while a build of that user runs, the server's after
        logs/                       0700  the server's; each log 0600
      run/builds/<future id>/       0700  the slot account's HOME and TMPDIR, removed after

The uv cache and its threat model. A build backend is code of whoever published the
package, and it runs as the build account, which may write uv's cache during the build. What
the cache holds is later installed into envs, so whoever may write a cache controls every
env installed from it afterwards. Hence:
- One cache per requesting labkeeper user, never shared between users: a user's builds
  warm each other (a second env of the same packages downloads and builds nothing), and a
  package one user installs can poison only that user's own later builds. A user with the
  update right on someone else's env already controls that env's contents; their build of
  it uses their own cache, so it reaches neither the owner's cache (the owner's future
  builds) nor, through it, the owner's other envs.
- `UV_LINK_MODE=copy`: no installed file shares an inode with a cache file. With uv's
  default hard links, lending a cache to the build account for a later build would make
  every file of the envs already installed from it writable by that build, and lending an
  env to the build of a user with the update right would make the files of the owner's
  cache it shares writable. (`clone` falls back to hard links where the file system cannot
  clone, e.g. ext4.) Copying costs time: see bench/README.md.
- A server-owned cache shared by all users was weighed and left: uv checks hashes (where it
  has any) when it fetches a wheel, not when it installs from its cache, so such a cache is
  only safe if no build account ever writes it, which needs a separate populating step
  that runs no build backend, plus per-user caches for wheels built from sdists anyway.
- Builds running at the same moment run as different accounts (one per build slot), and a
  slot's account has no process left when its next build starts: no build reaches what
  another build owns meanwhile (its env, its user's cache, its environment variables in
  /proc/<pid>/environ), whoever requested them.

A user's cache is lent to one build at a time: the build holds an exclusive lock on
`<digest>.lock` while it runs and hands the cache back to the server at its end. Two builds
of one user that run at once run as two accounts, and a cache owned by one is closed to the
other: the second gets an empty cache of its own in its HOME, removed after it (it runs
cold rather than waits). `<digest>.lent` marks a cache lent to a slot account until it is
fully handed back; the next build of anyone hands back such a cache no build holds (the
server died during a build).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

from uv import find_uv_bin

from labkeeper.isolation.accounts import can_switch_accounts
from labkeeper.isolation.identity import OTHERS, UnixIdentity, first_denied, server_identity
from labkeeper.isolation.layout import CODE_ENVS, TRAVERSE_ONLY, RunTree
from labkeeper.isolation.leftovers import clear_account

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_EXECUTE = 1
_READ_EXECUTE = 5


class SandboxError(Exception):
    """The build cannot run contained: the message says what to change."""


def blocked_for_builds(path: str | Path, want: int = _READ_EXECUTE) -> str | None:
    """The folder or file that keeps builds from using `path` (None: nothing, or not root)."""
    if not can_switch_accounts():
        return None
    return first_denied(path, OTHERS, want)


def runnable_uv(data_dir: Path) -> str:
    """The uv binary builds run: the installed one, or, when the build account cannot reach
    it (labkeeper installed under /root, say), a copy of it in `<data dir>/run/tools/`, a
    root-owned folder every account may traverse."""
    installed = find_uv_bin()
    if blocked_for_builds(installed) is None:
        return installed
    tools = RunTree(data_dir).root / "tools"
    tools.mkdir(mode=TRAVERSE_ONLY, parents=True, exist_ok=True)
    copy = tools / "uv"
    source = os.stat(installed)
    try:
        current = os.lstat(copy)
        fresh = stat.S_ISREG(current.st_mode) and (current.st_size, current.st_mtime_ns) == (
            source.st_size,
            source.st_mtime_ns,
        )
    except FileNotFoundError:
        fresh = False
    if not fresh:
        partial = tools / f".uv-{os.getpid()}-{threading.get_ident()}"
        shutil.copy2(installed, partial)
        os.chmod(partial, 0o755)
        os.replace(partial, copy)  # atomic: a build running meanwhile keeps the old inode
    return str(copy)


class BuildSandbox:
    """The account, environment and folders of one build.

    `identity` is the account of the build slot the build holds (slots.py), or None for a
    build that runs no process (it is lent nothing)."""

    def __init__(
        self, data_dir: Path, requester: str, task_id: str, env_path: Path, identity: UnixIdentity | None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.identity = identity
        self.switch = can_switch_accounts() and identity is not None
        self.env_path = Path(env_path)
        self.home = self.data_dir / "run" / "builds" / task_id
        self.cache = user_cache(self.data_dir, requester)
        self.shared_cache = True  # False: another build of the user holds theirs (see above)
        self.owns_env = False
        self.finished = False
        self._cache_lock: int | None = None

    # -- before ---------------------------------------------------------------------------
    def prepare(self, *, managed: bool) -> None:
        envs = self.data_dir / CODE_ENVS
        tree = RunTree(self.data_dir)
        tree.prepare()
        for folder in (envs, envs / "python", envs / "cache", self.cache.parent):
            _own_dir(folder, TRAVERSE_ONLY)
        _own_dir(envs / "logs", 0o700)
        _own_dir(self.home.parent, TRAVERSE_ONLY)
        self.home.mkdir(mode=0o700)
        (self.home / "tmp").mkdir(mode=0o700)
        self.cache.mkdir(mode=0o700, exist_ok=True)  # may be a running build's: left as it is
        if not self.switch:
            return
        tree.seal()
        self._check_reachable(envs / "python")
        if not self._lock_cache():
            self.shared_cache = False
            self.cache = self.home / "cache"
            self.cache.mkdir(mode=0o700)
        _chown_tree(self.home, self.identity)
        if self.shared_cache:
            _chown_tree(self.cache, self.identity)
        if managed:
            self.owns_env = True
            if self.env_path.is_dir() and not self.env_path.is_symlink():
                _chown_tree(self.env_path, self.identity)

    def make_env_folder(self) -> None:
        """An empty folder for `uv venv`, which the build account may fill."""
        self.env_path.mkdir(mode=0o755)
        if self.switch:
            os.chown(self.env_path, self.identity.uid, self.identity.gid, follow_symlinks=False)

    def _check_reachable(self, folder: Path) -> None:
        blocked = first_denied(folder, OTHERS, _EXECUTE)
        if blocked is not None:
            raise SandboxError(
                f"The build account {self.identity.name} cannot reach {folder}: {blocked} is closed to "
                "other accounts. Builds never run as root; make the folders above the data directory "
                "traversable (chmod o+x), or move the data directory"
            )

    def check_runnable(self, path: str | Path, what: str) -> None:
        blocked = blocked_for_builds(path)
        if blocked is not None:
            raise SandboxError(
                f"The build account {self.identity.name} cannot run {what} {path}: {blocked} is closed to "
                "other accounts. Builds never run as root; install it where every account may execute it"
            )

    # -- during -----------------------------------------------------------------------------
    def environ(self, index_env: dict[str, str]) -> dict[str, str]:
        home = str(self.home)
        env = {
            "PATH": SAFE_PATH,
            "HOME": home,
            "TMPDIR": str(self.home / "tmp"),
            "XDG_CONFIG_HOME": f"{home}/.config",
            "XDG_CACHE_HOME": f"{home}/.cache",
            "XDG_DATA_HOME": f"{home}/.local/share",
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "PYTHONNOUSERSITE": "1",
            "UV_CACHE_DIR": str(self.cache),
            "UV_LINK_MODE": "copy",  # no env file shares an inode with the cache (see above)
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
        }
        env.update(index_env)
        return env

    def popen_kwargs(self) -> dict[str, Any]:
        if self.identity is None:
            raise RuntimeError("this build holds no build slot: it may run no process")
        return {"cwd": str(self.home), **self.identity.popen_kwargs()}

    # -- after -------------------------------------------------------------------------------
    def finish(self) -> None:
        """Kill every process of the build's account, then give everything it touched back to
        the server and remove its home. Safe to call more than once; raises
        processes.ProcessSurvived (after handing back) when a process of the account outlives
        SIGKILL."""
        if self.finished:
            return
        self.finished = True
        try:
            if self.switch:
                # First: a process still running could write through a file it holds open,
                # whoever owns the file after the chown.
                survived = _clear(self.identity)
                me = server_identity()
                if self.owns_env and self.env_path.is_dir() and not self.env_path.is_symlink():
                    _chown_tree(self.env_path, me, strip=True)
                self._release_cache(me)
                if survived is not None:
                    raise survived
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def _lock_cache(self) -> bool:
        """Hold the exclusive lock on the user's cache for as long as this build runs and mark
        it lent; False when another build of the user holds it."""
        reclaim_idle_caches(self.cache.parent)
        fd = os.open(_lock_path(self.cache), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._cache_lock = fd
        _lent_path(self.cache).touch(mode=0o600)
        return True

    def _release_cache(self, me: UnixIdentity) -> None:
        fd, self._cache_lock = self._cache_lock, None
        if fd is None:
            return
        try:
            _give_back(self.cache, me)
        finally:
            os.close(fd)


def _clear(ident: UnixIdentity) -> Exception | None:
    try:
        clear_account(ident)
    except Exception as exc:  # noqa: BLE001 - handed back first, raised by the caller after
        return exc
    return None


def reclaim_idle_caches(folder: Path) -> None:
    """Give back to the server every user cache still lent to a slot account that no build
    uses: what a server that died during a build left behind."""
    me = server_identity()
    for lent in folder.glob("*.lent"):
        cache = lent.with_suffix("")
        try:
            fd = os.open(_lock_path(cache), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            lent.unlink(missing_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _give_back(cache, me)
        except BlockingIOError:  # a build of that user runs: it hands it back
            pass
        finally:
            os.close(fd)


def _give_back(cache: Path, me: UnixIdentity) -> None:
    """Under the cache's exclusive lock: everything in it the server's, closed to others."""
    if cache.is_dir() and not cache.is_symlink():
        _chown_tree(cache, me, strip=True)
        os.chmod(cache, 0o700)
    _lent_path(cache).unlink(missing_ok=True)  # last: a crash before this is reclaimed later


def _lock_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".lock")


def _lent_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".lent")


def user_cache(data_dir: Path, requester: str) -> Path:
    """uv's cache of the labkeeper user `requester`: a digest of the login names the folder, so
    any login makes a safe path and no two logins share one."""
    digest = hashlib.sha256(requester.encode()).hexdigest()[:32]
    return Path(data_dir) / CODE_ENVS / "cache" / "users" / digest


def _own_dir(folder: Path, mode: int) -> None:
    """A folder of the server's at `mode`; a symlink or file in its place is replaced."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        folder.mkdir(mode=mode, parents=True, exist_ok=True)
        st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        folder.unlink()
        folder.mkdir(mode=mode)
        st = os.lstat(folder)
    if st.st_uid != os.geteuid():
        os.chown(folder, os.geteuid(), os.getegid(), follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(folder, mode)


def hand_back_env(env_path: Path) -> None:
    """Give an env a build account held (a dead server's build) back to the server, as a
    finished build does: until then, whoever holds that account next could change it."""
    if can_switch_accounts() and env_path.is_dir() and not env_path.is_symlink():
        _chown_tree(env_path, server_identity(), strip=True)


def _chown_tree(root: Path, ident: UnixIdentity, *, strip: bool = False) -> None:
    """chown everything under `root` without following symlinks; with `strip`, also remove
    group/other write and setuid/setgid bits (what a build account could use later)."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files, None]:
            path = os.path.join(folder, name) if name is not None else folder
            st = os.lstat(path)
            if st.st_uid != ident.uid or st.st_gid != ident.gid:
                os.chown(path, ident.uid, ident.gid, follow_symlinks=False)
            if strip and not stat.S_ISLNK(st.st_mode):
                mode = stat.S_IMODE(st.st_mode)
                if mode & 0o6022:
                    os.chmod(path, mode & ~0o6022)
