"""`api_client()`: the client of code running inside labkeeper (a notebook kernel).

labkeeper gives each kernel LABKEEPER_URL (where the instance answers), LABKEEPER_API_KEY (a
key created for the session, acting as its creator, revoked when the session ends) and
LABKEEPER_PROJECT_KEY (the notebook's project).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labkeeper.client._client import DSSClient


def api_client() -> DSSClient:
    """A client of the labkeeper instance this code runs in, as the session's user."""
    from labkeeper.client._client import DSSClient

    url, key = os.environ.get("LABKEEPER_URL"), os.environ.get("LABKEEPER_API_KEY")
    if not url or not key:
        raise RuntimeError(
            "api_client() works inside a labkeeper notebook kernel, which sets LABKEEPER_URL and "
            "LABKEEPER_API_KEY; elsewhere build DSSClient(url, api_key) yourself"
        )
    return DSSClient(url, key)


def default_project_key() -> str:
    """The project of the notebook this code runs in."""
    key = os.environ.get("LABKEEPER_PROJECT_KEY")
    if not key:
        raise RuntimeError("No default project: this code does not run in a labkeeper notebook kernel")
    return key
