"""Answers of reads kept under the store's change stamps, for every GET route whose answer
is made of store rows only (or of what is fixed while the process runs: `/instance-info`).

Every write, in any process, moves a change stamp inside its own transaction (db/stamps.py:
the identity, settings and projects topics, and `data` for every other table). A request's
stamps are read once, before the handler reads anything (the `Caller`/`Admin` dependency),
so an answer computed after reading stamps S is kept under S and served again to the same
caller (the whole principal: key, user, groups, proxied user), for the same path and query,
only while the stamps still equal S. The next request after any write anywhere recomputes
it: a revoked key still fails at once (the key check runs before the lookup), a write is
seen by the next read on any worker. Only 200 answers are kept; errors are recomputed.

A route whose answer depends on anything besides store rows (the clock, files, live
processes, this process's memory) is listed in NOT_KEPT with the reason, in this one place;
`tests/server/test_routing.py` makes every GET route be classified.

A route listed in KEPT_WHEN_SETTLED depends on the clock or on files only in some ways (a
task still running, a build claim not yet attached to its task, notebook files): its
handler marks an answer made of store rows only with `settled(response)`, and only such
answers are kept; the others are computed every time, as for NOT_KEPT routes. An answer
read from files is settled with a `file_stamp`: a function of the files' stat (see
`files_stamp`) taken *before* they were read; the answer is served again only while the
stamps match and the function still gives the same value, so a file written by anyone (a
kernel, a user, another worker) is seen on the next read. Like the change stamps, a file
stamp is taken once for the requests that had arrived when it was taken (db/batch.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.responses import Response

from labkeeper.db.batch import LoopBatch
from labkeeper.db.stamps import ACTIVITY, NODES, Stamps
from labkeeper.server.routing import API_PREFIX

KEPT_WHEN_SETTLED: dict[str, str] = {
    "/futures/": "kept while no listed task runs (a running task's runningTime is the clock's)",
    "/futures/{job_id}": "kept once the task has ended (runningTime and result are then fixed)",
    "/admin/code-envs/": "kept while no listed env holds a build claim not yet attached to its "
    "task (such a claim expires with the clock)",
    "/admin/code-envs/{env_lang}/{env_name}": "kept unless the env holds a build claim not yet "
    "attached to its task",
    "/admin/code-envs/usages": "usages include Jupyter notebooks, which are files: kept under their stat",
    "/admin/code-envs/{env_lang}/{env_name}/usages": "as /admin/code-envs/usages",
    "/admin/code-envs/{env_lang}/{env_name}/logs": "build logs are files: kept under their stat",
    "/admin/code-envs/{env_lang}/{env_name}/logs/{log_name}": "a build log is a file: kept under its stat",
    "/admin/monitoring/global-usage-summary": "counts Jupyter notebooks, which are files: kept under "
    "the stat of every project's notebook folder",
    "/jupyter/kernelspecs/": "kernelspecs are files: kept under the stat of their folders",
    "/projects/{project_key}/jupyter-notebooks/": "notebooks are files: kept under their stat",
    "/projects/{project_key}/jupyter-notebooks/{name}": "a notebook is a file: kept under its stat",
    "/projects/{project_key}/jupyter-notebooks/{name}/sessions": "kept while the notebook has no "
    "session (a live kernel's values are read every time), under the notebook file's stat",
    "/projects/{project_key}/notebooks/": "as .../jupyter-notebooks/{name}/sessions",
    "/admin/notebooks/": "kept while no session is recorded (a live kernel's values are read every time)",
    "/projects/{project_key}/notebooks/active": "as /admin/notebooks/",
    "/projects/{key}/sql-notebooks/{notebook_id}/runs/{run_id}": "kept once the run has ended",
    "/admin/logs/": "log files: kept under the stat of the log folder and its files",
    "/admin/logs/{name}": "as /admin/logs/ (a log written in the last 2 s is read every time)",
    "/auth/info": "kept without withSecrets (the caller's own identity); an answer with "
    "decrypted secrets is never kept in memory",
    "/admin/nodes": "kept under the nodes stamp (every heartbeat moves it) until the first moment "
    "a node's state could change with the clock (its last heartbeat growing too old)",
}
SETTLED = "labkeeper_settled"
FILE_STAMP = "labkeeper_file_stamp"
# A path changed this recently could change again under the same stat: the kernel stamps
# changes with a coarse clock (a tick behind), and some file systems keep whole seconds (ext3,
# HFS+) or two (FAT). An answer read from such a path is not kept.
RECENT_NS = 2_000_000_000

NOT_KEPT: dict[str, str] = {
    "/admin/audit/unaudited": "counts kept in this process's memory",
    "/connections/{name}/test": "connects to the database now",
    "/healthz": "no store read",
    "/readyz": "reads the store's reachability now",
    "/metrics": "counters of this process and live kernels",
    "/projects/{project_key}/jupyter-notebooks/{name}/sessions/{session_id}/log": "a live kernel's "
    "log: a file its node writes, or that file's copy in the store, which moves no change stamp",
}


# Topics moved by writes that are not changes of what other answers show (user activity is
# written by reads, the node rows by every node's heartbeat): only the routes listed here
# are kept under them, and every other route's answer under the stamps without them.
OWN_TOPICS: dict[str, frozenset[str]] = {
    ACTIVITY: frozenset({"/admin/users-activity", "/admin/users/{login}/activity"}),
    NODES: frozenset({"/admin/nodes"}),
}


def topics_not_read(template: str) -> frozenset[str]:
    """The own topics (OWN_TOPICS) that the answers of route `template` are not kept under."""
    route = template.removeprefix(API_PREFIX)
    return frozenset(topic for topic, routes in OWN_TOPICS.items() if route not in routes)


_WITHOUT: dict[frozenset[str], tuple[Stamps, Stamps]] = {}  # topics -> (stamps, stamps without them)


def without(stamps: Stamps, topics: frozenset[str]) -> Stamps:
    """The stamps an answer is kept under: all but `topics`. Made once per stamps read: the
    store hands out the same stamps object while nothing changes (Store.request_stamps)."""
    made = _WITHOUT.get(topics)
    if made is not None and made[0] is stamps:
        return made[1]
    kept = {topic: value for topic, value in stamps.items() if topic not in topics}
    _WITHOUT[topics] = (stamps, kept)
    return kept


def kept(template: str) -> bool:
    """Whether GET answers of the route `template` (with the API prefix) may be kept (those
    of a KEPT_WHEN_SETTLED route only when settled)."""
    return template.removeprefix(API_PREFIX) not in NOT_KEPT


def kept_when_settled(template: str) -> bool:
    return template.removeprefix(API_PREFIX) in KEPT_WHEN_SETTLED


def settled(
    response: Response, is_settled: bool = True, *, file_stamp: tuple[Callable[[], Any], Any] | None = None
) -> Response:
    """Mark `response` as made of store rows only, so that a KEPT_WHEN_SETTLED route keeps it;
    or of store rows and files, with `file_stamp` = (stamp function, its value taken before
    the files were read). A stamp value of None (a file changed too recently) keeps nothing."""
    if file_stamp is not None and file_stamp[1] is None:
        is_settled = False
    setattr(response, SETTLED, is_settled)
    setattr(response, FILE_STAMP, file_stamp)
    return response


def path_stat(path: str | os.PathLike[str], now_ns: int) -> tuple[int, int, int, int] | bool | None:
    """A file's or folder's identity and change times (None: changed too recently, or
    unreadable, to be trusted; False: absent). A folder's times move when an entry is added, removed or
    renamed into it; a file's when it is written. The ctime cannot be set back by a user."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError:  # e.g. a file where a folder belongs: not kept, the read says what is wrong
        return None
    if now_ns - info.st_ctime_ns < RECENT_NS:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def combined_stamp(stamps: list[tuple[Callable[[], Any], Any]]) -> tuple[Callable[[], Any], Any]:
    """One file stamp of several (None when one of them is None)."""
    functions = [function for function, _ in stamps]
    values = tuple(value for _, value in stamps)
    return (lambda: tuple(function() for function in functions)), (None if None in values else values)


def files_stamp(paths: Iterable[str | os.PathLike[str]]) -> tuple | None:
    """The stat of every path, for `settled(file_stamp=...)`; None when one changed too recently."""
    now_ns = time.time_ns()
    stamp = []
    for path in paths:
        one = path_stat(path, now_ns)
        if one is None:
            return None
        stamp.append(one)
    return tuple(stamp)


def folder_stamp(folder: str | os.PathLike[str]) -> tuple[Callable[[], Any], Any]:
    """The stat of a folder and of each entry in it, taken before they are read, for
    `settled(file_stamp=...)`: a file added, removed or being written keeps changing it."""
    folder = str(folder)
    folder_stat = path_stat(folder, time.time_ns())
    try:
        found = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        found = []
    paths = [folder, *(os.path.join(folder, entry) for entry in found)]
    rest = files_stamp(paths[1:])
    value = None if folder_stat is None or rest is None else (folder_stat, *rest)
    return (lambda: files_stamp(paths)), value


class Answers:
    """This process's kept answers: {(path, query, principal): (stamps, body, content type,
    file stamp)}, the file stamp being None or (stamp function, value when computed)."""

    MAX_ENTRIES = 10_000
    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[dict, bytes, bytes, tuple | None]] = {}
        self._bytes = 0
        # A file stamp taken once for the requests that arrived before it (db/batch.py), as
        # the change stamps are: a file written before a request arrived is in its stat.
        self._file_stamps = LoopBatch()

    def get(self, key: tuple, stamps: dict[str, int]) -> tuple[bytes, bytes] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != stamps:
            return None
        file_stamp = entry[3]
        if file_stamp is not None and self._file_stamps.get(file_stamp[0], file_stamp[0]) != file_stamp[1]:
            return None
        return entry[1], entry[2]

    def put(
        self,
        key: tuple,
        stamps: dict[str, int],
        body: bytes,
        content_type: bytes,
        file_stamp: tuple[Callable[[], Any], Any] | None = None,
    ) -> None:
        if len(self._entries) >= self.MAX_ENTRIES or self._bytes + len(body) > self.MAX_BYTES:
            self._entries.clear()
            self._bytes = 0
        old = self._entries.get(key)
        if old is not None:
            self._bytes -= len(old[1])
        self._entries[key] = (stamps, body, content_type, file_stamp)
        self._bytes += len(body)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._entries), "bytes": self._bytes}
