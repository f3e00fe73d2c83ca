"""What this instance is (`GET /instance-info`): node id, name, type and version."""

from __future__ import annotations

import functools
import os
import socket
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

NODE_ID_FILE = "node-id"


@functools.cache  # reading the installed distributions costs half a millisecond
def version() -> str:
    try:
        return metadata.version("labkeeper")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def node_id(data_dir: Path) -> str:
    """A stable id made on first use and kept in the data directory (first writer wins);
    read once per process, since nothing changes it afterwards."""
    path = data_dir / NODE_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    temporary = path.with_name(f".{NODE_ID_FILE}.{os.getpid()}")
    temporary.write_text(uuid.uuid4().hex + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text().strip()


@functools.cache
def instance_info(data_dir: Path) -> dict[str, Any]:
    """Read once per process, as a node's name, id and version are fixed while it runs; so
    the route's answers are kept like those made of store rows (server/answers.py)."""
    version_ = version()
    return {
        "nodeId": node_id(data_dir),
        "nodeName": os.environ.get("LABKEEPER_NODE_NAME") or socket.gethostname(),
        "nodeType": "DESIGN",
        "dssVersion": version_,
        "labkeeperVersion": version_,
    }
