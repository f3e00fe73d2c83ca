"""Running every code cell of a notebook in one of its sessions, as a future.

The future reports one progress step per cell, stops at the first cell that raises, and
saves the outputs into the notebook file (also when it fails or is aborted). Aborting it
(`DELETE /futures/{id}`) interrupts the kernel (SIGINT, as Jupyter does): the session stays.
The kernel is reached through its connection file, so the run works whichever worker
started the kernel.
"""

from __future__ import annotations

import contextlib
import os
import signal
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from nbformat.v4 import output_from_msg
from sqlalchemy import select

from labkeeper.db import Store
from labkeeper.futures.runner import OperationError, TaskContext, operation
from labkeeper.isolation.processes import usage
from labkeeper.notebooks.jupyter import files
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.notebooks.jupyter.sessions import manager_for

KIND = "jupyter-notebook-run"
# How long to wait for a message before checking that the kernel still lives.
POLL_SECONDS = 1.0


class _KernelGone(Exception):
    pass


def _session_row(store: Store, session_id: str) -> JupyterSession | None:
    with store.read() as s:
        return s.scalar(select(JupyterSession).where(JupyterSession.id == session_id))


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def _add_output(outputs: list[dict[str, Any]], msg: dict[str, Any], state: dict[str, Any]) -> None:
    kind = msg["msg_type"]
    if kind == "clear_output":
        if msg["content"].get("wait"):
            state["clear_pending"] = True
        else:
            outputs.clear()
        return
    if kind not in ("stream", "display_data", "execute_result", "error"):
        return
    if state.pop("clear_pending", False):
        outputs.clear()
    output = dict(output_from_msg(msg))
    if (
        kind == "stream"
        and outputs
        and outputs[-1].get("output_type") == "stream"
        and outputs[-1].get("name") == output.get("name")
    ):
        outputs[-1]["text"] = outputs[-1]["text"] + output["text"]
        return
    outputs.append(output)


async def _execute(
    client: AsyncKernelClient, code: str, alive: Any
) -> tuple[list[dict[str, Any]], int | None, dict]:
    """Run `code`; return its outputs, its execution count and its reply content."""
    msg_id = client.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
    outputs: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    count: int | None = None
    while True:
        try:
            msg = await client.get_iopub_msg(timeout=POLL_SECONDS)
        except Empty:
            if not alive():
                raise _KernelGone from None
            continue
        if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "execute_input":
            count = msg["content"].get("execution_count")
        elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            break
        else:
            _add_output(outputs, msg, state)
    while True:
        try:
            reply = await client.get_shell_msg(timeout=POLL_SECONDS)
        except Empty:
            if not alive():
                raise _KernelGone from None
            continue
        if (reply.get("parent_header") or {}).get("msg_id") == msg_id:
            content = reply["content"]
            return outputs, content.get("execution_count", count), content


@operation(KIND)
async def run_notebook(ctx: TaskContext, args: dict[str, Any]) -> dict[str, Any]:
    store: Store = ctx.store  # type: ignore[attr-defined]
    manager = manager_for(store)
    session_id, project_key, name = args["sessionId"], args["projectKey"], args["notebookName"]
    row = _session_row(store, session_id)
    if row is None or not row.pid:
        raise OperationError(f"Notebook session {session_id} is not running any more")
    path = files.notebook_path(manager.config.data_dir, project_key, name)
    content = files.read(path)
    code_cells = [c for c in content.get("cells") or [] if c.get("cell_type") == "code"]
    pid, create_time = row.pid, row.pid_create_time

    def alive() -> bool:
        return usage(pid, create_time=create_time) is not None and _session_row(store, session_id) is not None

    def interrupt() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)

    client = AsyncKernelClient()
    client.load_connection_file(row.connection_file)
    client.start_channels()
    unregister = ctx.on_abort(interrupt)
    manager.attach(session_id, +1)
    ran, failure = 0, ""
    try:
        await client.wait_for_ready(timeout=30)
        for index, cell in enumerate(code_cells):
            ctx.progress([(f"Running cell {index + 1} of {len(code_cells)}", index, len(code_cells))])
            try:
                outputs, count, reply = await _execute(client, _source(cell), alive)
            except _KernelGone:
                failure = f"the kernel of session {session_id} stopped while running cell {index + 1}"
                break
            cell["outputs"], cell["execution_count"] = outputs, count
            ran += 1
            if reply.get("status") == "error":
                if ctx.should_abort():
                    return {"cellsRun": ran}
                failure = f"cell {index + 1} raised {reply.get('ename')}: {reply.get('evalue')}"
                break
            if reply.get("status") == "aborted":
                failure = f"cell {index + 1} was not run: the kernel aborted it"
                break
        ctx.progress([(f"Ran {ran} of {len(code_cells)} cells", ran, len(code_cells))])
    finally:
        unregister()
        manager.attach(session_id, -1)
        client.stop_channels()
        if ran:
            _save_outputs(path, content)
    if failure:
        raise OperationError(f"Running notebook {name} stopped: {failure}")
    return {"sessionId": session_id, "cellsRun": ran, "codeCells": len(code_cells)}


def _save_outputs(path: Any, executed: dict[str, Any]) -> None:
    """Write the outputs into the notebook as it is now (matched by cell id, else by position)."""
    try:
        current = files.read(path)
    except Exception:  # noqa: BLE001 - deleted meanwhile: nothing to save into
        return
    ran_cells = [c for c in executed.get("cells") or [] if c.get("cell_type") == "code"]
    by_id = {c["id"]: c for c in ran_cells if c.get("id")}
    targets = [c for c in current.get("cells") or [] if c.get("cell_type") == "code"]
    for position, cell in enumerate(targets):
        source = by_id.get(cell.get("id")) if cell.get("id") else None
        if source is None and position < len(ran_cells) and not by_id:
            source = ran_cells[position]
        if source is not None:
            cell["outputs"] = source.get("outputs", [])
            cell["execution_count"] = source.get("execution_count")
    files.write(path, current)
