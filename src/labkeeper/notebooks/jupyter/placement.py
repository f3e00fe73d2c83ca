"""Sessions and the nodes their kernels run on.

A new session goes to the live, undrained node that executes work with the fewest sessions
recorded in the store (the truth, counting starts still under way), this node first on a
tie (`choose_node`); a project whose settings pin a node label (`nodeLabel`, set by admins
only) goes only to nodes carrying it. A session's row names its node. Work that needs the
kernel's channels (a notebook run) is queued for that node; an unload from any node deletes
the row and revokes the key at once, and the owning node stops the kernel when it sees the
row gone. When a node dies, its sessions are forgotten by `forget_sessions_of_dead_nodes`,
run by the task runner's reaper on a live node: the rows and keys go, and each is audited
as unloaded.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select

from labkeeper.auth.models import ApiKey
from labkeeper.db import Store, now_ms
from labkeeper.errors import Unavailable
from labkeeper.nodes.models import Node
from labkeeper.nodes.service import is_alive, placeable
from labkeeper.notebooks.jupyter import kernellogs
from labkeeper.notebooks.jupyter.events import record_unloaded
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.projects.documents import NODE_LABEL_KEY as LABEL_KEY
from labkeeper.projects.models import Project

NODE_STOPPED = "the node running its kernel stopped"


def node_of(store: Store, session_id: str) -> str:
    with store.read() as s:
        return s.scalar(select(JupyterSession.node).where(JupyterSession.id == session_id)) or ""


def project_label(store: Store, project_key: str) -> str:
    """The node label the project pins its kernels to ("" for none: any node)."""
    with store.read() as s:
        settings = s.scalar(select(Project.settings).where(Project.key == project_key)) or {}
    return str(settings.get(LABEL_KEY) or "")


def _no_label_node(label: str, project_key: str) -> Unavailable:
    return Unavailable(
        f"No live node carries the label {label!r} that project {project_key} pins its kernels to",
        detail=f"Project {project_key} runs its kernels only on nodes labelled {label!r} (its settings' "
        f"{LABEL_KEY!r}), and no such node is up and undrained (GET /admin/nodes). Start one "
        f"(labkeeper worker --label {label}), or have an admin change the project's label",
    )


def require_label_here(store: Store, *, here: str, label: str, project_key: str) -> None:
    """A session that must run on this node (JupyterLab's) needs the project's label here."""
    if not label:
        return
    with store.read() as s:
        mine = s.get(Node, here)
    if mine is None or label not in (mine.labels or []):
        raise _no_label_node(label, project_key)


def choose_node(
    store: Store,
    *,
    here: str,
    executes_here: bool,
    kernel: str,
    anywhere: bool = False,
    label: str = "",
    project_key: str = "",
) -> str:
    """The node a new `kernel` starts on, among those that have it (its code env is built
    there), or among all when `anywhere` (a code env's kernel: built on the chosen node on
    first use), and among those carrying `label` when the project pins one. This node counts
    as alive (it runs this code) unless it is drained or only serves the API; 503 when no node
    can take it."""
    candidates = {n.name: n for n in placeable(store) if anywhere or kernel.lower() in (n.kernels or {})}
    with store.read() as s:
        mine = s.get(Node, here)
        counts = dict(
            s.execute(select(JupyterSession.node, func.count()).group_by(JupyterSession.node)).all()
        )
    if executes_here and not (mine is not None and mine.draining):
        candidates.setdefault(here, mine)  # type: ignore[arg-type]
    if label:
        candidates = {
            name: n for name, n in candidates.items() if n is not None and label in (n.labels or [])
        }
        if not candidates:
            raise _no_label_node(label, project_key)
    if not candidates:
        raise Unavailable(
            f"No worker node can start a {kernel!r} kernel now: none that has it is up and undrained",
            detail=f"Every node that has the kernel {kernel!r} (its code env built there) is down or drained "
            "(GET /admin/nodes). Start a worker node (labkeeper worker), or undrain one (labkeeper nodes "
            "undrain NAME)",
        )
    return min(candidates, key=lambda name: (counts.get(name, 0), name != here, name))


def forget_sessions_of_dead_nodes(store: Store) -> list[str]:
    """Delete the sessions (and their keys) of nodes that stopped beating; their ids."""
    now = now_ms()
    with store.begin() as s:
        dead = {n.name for n in s.scalars(select(Node)) if not is_alive(n, now)}
        if not dead:
            return []
        rows = list(s.scalars(select(JupyterSession).where(JupyterSession.node.in_(dead))))
        for row in rows:
            s.execute(delete(JupyterSession).where(JupyterSession.id == row.id))
            kernellogs.forget(s, row.id)
            if row.api_key_id:
                s.execute(delete(ApiKey).where(ApiKey.id == row.api_key_id))
    for row in rows:
        record_unloaded(store, row, reason=NODE_STOPPED)
    return [row.id for row in rows]
