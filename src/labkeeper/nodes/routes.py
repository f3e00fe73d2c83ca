"""GET /admin/nodes, POST /admin/nodes/{name}/drain and /undrain (labkeeper additions, admins)."""

from __future__ import annotations

from fastapi import Response

from labkeeper.db import now_ms
from labkeeper.names import check_name
from labkeeper.nodes import service
from labkeeper.server.answers import settled
from labkeeper.server.deps import Admin, AppStore
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router

router = api_router("nodes")


@router.get("/admin/nodes")
async def list_nodes(store: AppStore, _admin: Admin) -> Response:
    nodes = service.list_nodes(store)
    until = service.states_hold_until(nodes)
    # Kept under the nodes stamp, until a node's state could change with the clock alone.
    return settled(json_response(nodes), file_stamp=(lambda: now_ms() < until, True))


@router.post("/admin/nodes/{name}/drain")
async def drain_node(name: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(service.set_draining(store, check_name("node name", name), True))


@router.post("/admin/nodes/{name}/undrain")
async def undrain_node(name: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(service.set_draining(store, check_name("node name", name), False))
