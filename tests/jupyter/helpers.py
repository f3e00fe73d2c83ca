"""Shared helpers of the Jupyter tests: notebooks, waiting, process checks."""

from __future__ import annotations

from typing import Any

from tests.helpers import wait_for


def notebook(*sources: str, kernel: str = "python3", minor: int = 5) -> dict[str, Any]:
    """A valid nbformat 4 notebook whose code cells hold `sources`."""
    cells = []
    for i, source in enumerate(sources):
        cell: dict[str, Any] = {
            "cell_type": "code",
            "metadata": {},
            "source": source,
            "outputs": [],
            "execution_count": None,
        }
        if minor >= 5:
            cell["id"] = f"cell-{i}"
        cells.append(cell)
    return {
        "nbformat": 4,
        "nbformat_minor": minor,
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": cells,
    }


def make_project(client, key: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/projects/", json={"projectKey": key, "name": key})
    assert response.status_code == 200, response.text


def set_settings(client, section: str, **values) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/admin/general-settings").json()
    doc[section].update(values)
    answer = client.put("/admin/general-settings", json=doc)
    assert answer.status_code == 204, answer.text


def kernel_env(pid: int) -> dict[str, str]:
    """The environment a kernel process was started with (root may read any process's)."""
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def run_cells(client, project: str, name: str, session_id: str | None = None, timeout: float = 60.0) -> dict:  # type: ignore[no-untyped-def]
    """Run every code cell and wait for the future's end; return its final (peek) state."""
    body = {"sessionId": session_id} if session_id else {}
    answer = client.post(f"/projects/{project}/jupyter-notebooks/{name}/actions/run", json=body)
    assert answer.status_code == 200, answer.text
    job = answer.json()["jobId"]
    return wait_for(
        lambda: (s := client.get(f"/futures/{job}", params={"peek": "true"}).json()) and not s["alive"] and s,
        timeout=timeout,
    )
