"""A small `dataiku` module for labkeeper notebook kernels.

Scripts written for DSS notebooks start with `import dataiku; client = dataiku.api_client()`.
Here that client is labkeeper's own (`labkeeper.client.DSSClient`), authenticated as the
notebook session's creator with a key that stops working when the session ends.
"""

from __future__ import annotations

import os

__all__ = ["api_client", "default_project_key", "set_default_project_key"]


def api_client():  # type: ignore[no-untyped-def]
    """A client of the labkeeper instance this kernel belongs to, acting as the session's user."""
    from labkeeper.client import api_client as _api_client

    return _api_client()


def default_project_key() -> str:
    """The key of the project whose notebook this kernel runs."""
    key = os.environ.get("LABKEEPER_PROJECT_KEY") or os.environ.get("DKU_CURRENT_PROJECT_KEY")
    if not key:
        raise RuntimeError("No default project: this code does not run in a labkeeper notebook kernel")
    return key


def set_default_project_key(project_key: str) -> None:
    os.environ["LABKEEPER_PROJECT_KEY"] = project_key
    os.environ["DKU_CURRENT_PROJECT_KEY"] = project_key
