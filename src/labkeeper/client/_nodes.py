"""The machines of the instance (labkeeper additions, admins): list them, drain one."""

from __future__ import annotations

from typing import Any

from labkeeper.client._http import Requester, path_segment


class NodeMethods(Requester):
    """DSSClient methods for the instance's nodes (labkeeper additions, admin only)."""

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node: name, role, version, lastHeartbeat, alive, draining, liveKernels,
        runningTasks."""
        return self._perform_json("GET", "/admin/nodes")

    def drain_node(self, name: str, draining: bool = True) -> dict[str, Any]:
        """Stop new placements on node `name` (or allow them again with `draining=False`)."""
        action = "drain" if draining else "undrain"
        return self._perform_json("POST", f"/admin/nodes/{path_segment(name)}/{action}")
