"""Answers of reads kept under the store's change stamps, for every GET route whose answer
is made of store rows only.

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

A route listed in KEPT_WHEN_SETTLED depends on the clock only in some states (a task still
running, a build claim not yet attached to its task): its handler marks an answer made of
store rows only with `settled(response)`, and only such answers are kept; the others are
computed every time, as for NOT_KEPT routes.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from labkeeper.server.routing import API_PREFIX

KEPT_WHEN_SETTLED: dict[str, str] = {
    "/futures/": "kept while no listed task runs (a running task's runningTime is the clock's)",
    "/futures/{job_id}": "kept once the task has ended (runningTime and result are then fixed)",
    "/admin/code-envs/": "kept while no listed env holds a build claim not yet attached to its "
    "task (such a claim expires with the clock)",
    "/admin/code-envs/{env_lang}/{env_name}": "kept unless the env holds a build claim not yet "
    "attached to its task",
}
SETTLED = "labkeeper_settled"

NOT_KEPT: dict[str, str] = {
    "/admin/code-envs/usages": "usages include Jupyter notebooks, which are files",
    "/admin/code-envs/{env_lang}/{env_name}/usages": "usages include Jupyter notebooks, which are files",
    "/admin/code-envs/{env_lang}/{env_name}/logs": "build logs are files",
    "/admin/code-envs/{env_lang}/{env_name}/logs/{log_name}": "build logs are files",
    "/admin/audit/unaudited": "counts kept in this process's memory",
    "/admin/monitoring/global-usage-summary": "counts Jupyter notebooks, which are files",
    "/connections/{name}/test": "connects to the database now",
    "/jupyter/kernelspecs/": "kernelspecs are files",
    "/admin/notebooks/": "live kernels' state",
    "/projects/{project_key}/jupyter-notebooks/": "notebooks are files; live kernels' state",
    "/projects/{project_key}/jupyter-notebooks/{name}": "notebooks are files",
    "/projects/{project_key}/jupyter-notebooks/{name}/sessions": "live kernels' state",
    "/projects/{project_key}/notebooks/": "notebooks are files; live kernels' state",
    "/projects/{key}/sql-notebooks/{notebook_id}/runs/{run_id}": "a running query's state",
    "/healthz": "no store read",
    "/readyz": "reads the store's reachability now",
    "/metrics": "counters of this process and live kernels",
}


def kept(template: str) -> bool:
    """Whether GET answers of the route `template` (with the API prefix) may be kept (those
    of a KEPT_WHEN_SETTLED route only when settled)."""
    return template.removeprefix(API_PREFIX) not in NOT_KEPT


def kept_when_settled(template: str) -> bool:
    return template.removeprefix(API_PREFIX) in KEPT_WHEN_SETTLED


def settled(response: Response, is_settled: bool = True) -> Response:
    """Mark `response` as made of store rows only, so that a KEPT_WHEN_SETTLED route keeps it."""
    setattr(response, SETTLED, is_settled)
    return response


class Answers:
    """This process's kept answers: {(path, query, principal): (stamps, body, content type)}."""

    MAX_ENTRIES = 10_000
    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[dict, bytes, bytes]] = {}
        self._bytes = 0

    def get(self, key: tuple, stamps: dict[str, int]) -> tuple[bytes, bytes] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != stamps:
            return None
        return entry[1], entry[2]

    def put(self, key: tuple, stamps: dict[str, int], body: bytes, content_type: bytes) -> None:
        if len(self._entries) >= self.MAX_ENTRIES or self._bytes + len(body) > self.MAX_BYTES:
            self._entries.clear()
            self._bytes = 0
        old = self._entries.get(key)
        if old is not None:
            self._bytes -= len(old[1])
        self._entries[key] = (stamps, body, content_type)
        self._bytes += len(body)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._entries), "bytes": self._bytes}
