"""The node registry: each node upserts its row at start, beats while it runs, says when it stops.

A node is alive while its heartbeat is younger than ALIVE_WITHIN_MS. Draining a node is a
flag on its row that placements read: a drained node keeps what it runs and gets nothing new.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any, NamedTuple

import orjson
from sqlalchemy import select, update

from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, NotFound
from labkeeper.instance.info import version
from labkeeper.nodes.models import Node

HEARTBEAT_SECONDS = 3.0
ALIVE_WITHIN_MS = 15_000


_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_label(value: object, what: str = "node label") -> str:
    """A node label: letters, digits, '_', '.', '-', at most 64 characters; a 400 otherwise."""
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        shown = repr(value)[:80]
        raise BadRequest(
            f"Invalid {what} {shown}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    return value


def register(
    store: Store,
    *,
    name: str,
    role: str,
    public_url: str = "",
    kernels: dict[str, str] | None = None,
    labels: tuple[str, ...] | list[str] = (),
) -> None:
    now = now_ms()
    values = {
        "labels": list(labels),
        "role": role,
        "version": version(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "public_url": public_url,
        "started_on": now,
        "heartbeat_on": now,
        "stopped_on": 0,
        "kernels": kernels or {},
    }
    with store.begin() as s:
        node = s.get(Node, name)
        if node is None:
            s.add(Node(name=name, **values))
        else:  # a restart keeps the operator's drain
            for key, value in values.items():
                setattr(node, key, value)


def beat(
    store: Store, name: str, *, live_kernels: int, running_tasks: int, kernels: dict[str, str] | None = None
) -> None:
    values: dict[str, Any] = {
        "heartbeat_on": now_ms(),
        "live_kernels": live_kernels,
        "running_tasks": running_tasks,
    }
    if kernels is not None:
        values["kernels"] = kernels
    with store.begin() as s:
        s.execute(update(Node).where(Node.name == name).values(**values))


def stopped(store: Store, name: str) -> None:
    with store.begin() as s:
        s.execute(
            update(Node).where(Node.name == name).values(stopped_on=now_ms(), live_kernels=0, running_tasks=0)
        )


class NodeRow(NamedTuple):
    """The columns of a node the listing shows, read without the ORM (an admin console polls it)."""

    name: str
    role: str
    version: str
    host: str
    public_url: str
    started_on: int
    heartbeat_on: int
    stopped_on: int
    draining: bool
    live_kernels: int
    running_tasks: int
    labels: Any


_LIST = f"SELECT {', '.join(NodeRow._fields)} FROM nodes ORDER BY name"


def is_alive(node: Node | NodeRow, now: int) -> bool:
    return not node.stopped_on and now - node.heartbeat_on < ALIVE_WITHIN_MS


def node_state(node: Node | NodeRow, now: int) -> dict[str, Any]:
    alive = is_alive(node, now)
    return {
        "name": node.name,
        "role": node.role,
        "version": node.version,
        "host": node.host,
        "publicUrl": node.public_url,
        "startedOn": node.started_on,
        "lastHeartbeat": node.heartbeat_on,
        "alive": alive,
        "state": "DRAINING" if node.draining and alive else ("UP" if alive else "DOWN"),
        "draining": bool(node.draining),
        "liveKernels": node.live_kernels if alive else 0,
        "runningTasks": node.running_tasks if alive else 0,
        "labels": _labels(node.labels),
    }


def _labels(value: Any) -> list[str]:
    """The labels column, a list from the ORM and from PostgreSQL, JSON text from SQLite."""
    if isinstance(value, str):
        value = orjson.loads(value or "[]")
    return list(value or [])


def list_nodes(store: Store) -> list[dict[str, Any]]:
    with store.raw_reader() as query:
        rows = query(_LIST, None)
    now = now_ms()
    return [node_state(NodeRow(*row), now) for row in rows]


def states_hold_until(nodes: list[dict[str, Any]]) -> int:
    """The first moment (ms) a listed node's state could change with the clock alone: a live
    node whose heartbeat grows too old is down."""
    return min((n["lastHeartbeat"] + ALIVE_WITHIN_MS for n in nodes if n["alive"]), default=2**62)


def placeable(store: Store, role_part: str = "worker") -> list[Node]:
    """Live, undrained nodes that execute work, for placements."""
    now = now_ms()
    with store.read() as s:
        nodes = list(s.scalars(select(Node).where(Node.draining.is_(False))))
    return [n for n in nodes if is_alive(n, now) and role_part in n.role]


def set_draining(store: Store, name: str, draining: bool) -> dict[str, Any]:
    with store.begin() as s:
        node = s.get(Node, name)
        if node is None:
            raise NotFound(f"No node named {name!r}")
        node.draining = draining
        s.flush()
        return node_state(node, now_ms())
