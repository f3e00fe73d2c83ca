"""Clearing an account that must start empty: no process, no file in the places every
account may write.

A build slot's account runs one build after another, for different users. What one build
leaves running could tamper with the next one (write its env or the cache lent to it, read
its index credentials in /proc/<pid>/environ, which the same uid may read). What it leaves
in a shared sticky folder has more reach against the same uid than against others: the
kernel follows a symlink in /tmp only for its owner (fs.protected_symlinks) and lets only
the owner reopen a file there (fs.protected_regular), so a planted `/tmp/<predictable
name>` symlink or file would work against the next build of that slot and no one else. A
build's HOME and TMPDIR are its own folders, removed after it, so nothing of it needs to
survive in these places.

Not cleared here (an account never gets these on this machine, or they need tools
labkeeper does not run): System V IPC objects, crontabs, at jobs.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat

from labkeeper.isolation.identity import UnixIdentity
from labkeeper.processes import stop_account

log = logging.getLogger("labkeeper.isolation")

# Folders every account may create files in (sticky and world-writable on a usual system).
SHARED_PLACES = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
_DEPTH = 3  # world-writable folders inside those (/tmp/.X11-unix, ...) are searched too


def clear_account(ident: UnixIdentity) -> tuple[int, int]:
    """Kill every process of `ident`, then remove what it owns in the shared places.
    Returns (processes killed, entries removed); raises processes.ProcessSurvived."""
    killed = stop_account(ident.uid, ident.gid)
    removed = sum(_remove_owned(place, ident.uid, _DEPTH) for place in SHARED_PLACES)
    if killed or removed:
        log.warning(
            "account %s had %d processes and %d files left over: removed", ident.name, killed, removed
        )
    return killed, removed


def _remove_owned(folder: str, uid: int, depth: int) -> int:
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid == uid:
            try:
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(entry.path)  # fd-based: never follows a symlink inside
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                log.warning("could not remove %s, left by uid %d", entry.path, uid)
        elif stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IWOTH and depth > 1:
            removed += _remove_owned(entry.path, uid, depth - 1)
    return removed
