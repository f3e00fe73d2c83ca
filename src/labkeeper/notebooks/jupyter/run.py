"""Running every code cell of a notebook in one of its sessions, as a future.

The future reports one progress step per cell, stops at the first cell that raises, and
saves the outputs into the notebook (also when it fails or is aborted). Aborting it
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

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from sqlalchemy import select

from labkeeper.db import Store
from labkeeper.futures.runner import OperationError, TaskContext, operation
from labkeeper.isolation.processes import usage
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.notebooks.jupyter.outputs import (
    DEFAULT_MAX_CELL_OUTPUT_BYTES,
    DEFAULT_MAX_RUN_OUTPUT_BYTES,
    OutputSpool,
    spool_dir,
)
from labkeeper.notebooks.jupyter.sessions import manager_for
from labkeeper.notebooks.jupyter.storage import NotebookStorage
from labkeeper.settings.service import get_general_settings

KIND = "jupyter-notebook-run"
# How long to wait for a message before checking that the kernel still lives.
POLL_SECONDS = 1.0
IOPUB_QUEUE = 8  # messages
MAX_REOPENS = 20  # IOPub connections reopened after oversized messages, per cell
NUDGE_EVERY, NUDGE_FOR = 0.5, 30.0  # seconds: kernel_info asked, until IOPub answers


class _KernelGone(Exception):
    pass


def _session_row(store: Store, session_id: str) -> JupyterSession | None:
    with store.read() as s:
        return s.scalar(select(JupyterSession).where(JupyterSession.id == session_id))


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


async def _execute(
    client: AsyncKernelClient, code: str, alive: Any, spool: OutputSpool
) -> tuple[int | None, dict]:
    """Run `code`, streaming its outputs into `spool`; return its execution count and reply."""
    msg_id = client.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
    count: int | None = None
    replied: dict | None = None
    while True:
        try:
            msg = await client.get_iopub_msg(timeout=POLL_SECONDS)
        except Empty:
            if not alive():
                raise _KernelGone from None
            if replied is not None:
                break  # replied and quiet: the idle status was lost with an oversized message
            with contextlib.suppress(Empty):
                reply = await client.get_shell_msg(timeout=0)
                if (reply.get("parent_header") or {}).get("msg_id") == msg_id:
                    replied = reply
            continue
        if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "execute_input":
            count = msg["content"].get("execution_count")
        elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            break
        else:
            spool.add(msg)
    if replied is not None:
        return replied["content"].get("execution_count", count), replied["content"]
    while True:
        try:
            reply = await client.get_shell_msg(timeout=POLL_SECONDS)
        except Empty:
            if not alive():
                raise _KernelGone from None
            continue
        if (reply.get("parent_header") or {}).get("msg_id") == msg_id:
            content = reply["content"]
            return content.get("execution_count", count), content


@operation(KIND)
async def run_notebook(ctx: TaskContext, args: dict[str, Any]) -> dict[str, Any]:
    store: Store = ctx.store  # type: ignore[attr-defined]
    manager = manager_for(store)
    session_id, project_key, name = args["sessionId"], args["projectKey"], args["notebookName"]
    row = _session_row(store, session_id)
    if row is None or not row.pid:
        raise OperationError(f"Notebook session {session_id} is not running any more")
    content = manager.notebooks.read(project_key, name)
    code_cells = [c for c in content.get("cells") or [] if c.get("cell_type") == "code"]
    pid, create_time = row.pid, row.pid_create_time

    def alive() -> bool:
        return usage(pid, create_time=create_time) is not None and _session_row(store, session_id) is not None

    def interrupt() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)

    limits = get_general_settings(store)["notebooks"]
    spool = OutputSpool(
        spool_dir(manager.config.data_dir),
        max_run_bytes=_limit(limits, "maxRunOutputBytes", DEFAULT_MAX_RUN_OUTPUT_BYTES),
        max_cell_bytes=_limit(limits, "maxCellOutputBytes", DEFAULT_MAX_CELL_OUTPUT_BYTES),
    )
    # A small receive queue: a flooding kernel's messages wait in the kernel's own send queue,
    # never in this server's memory (outputs are spooled to disk as they are read).
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.RCVHWM, IOPUB_QUEUE)
    # One message is never bigger than a cell may keep (plus room for its envelope): zmq drops a
    # bigger one before it is read into memory (and reconnects); the cell is marked truncated.
    max_message = spool.max_cell_bytes + 64 * 1024
    context.setsockopt(zmq.MAXMSGSIZE, max_message)
    channels = _Channels(context, row.connection_file)
    unregister = ctx.on_abort(interrupt)
    manager.attach(session_id, +1)
    ran, failure = 0, ""
    try:
        await channels.client.wait_for_ready(timeout=30)
        for index, cell in enumerate(code_cells):
            ctx.progress([(f"Running cell {index + 1} of {len(code_cells)}", index, len(code_cells))])
            spool.start_cell(index)
            try:
                count, reply = await _execute(channels.client, _source(cell), alive, spool)
                cell["outputs"], cell["execution_count"] = [], count
                await _settle(channels, spool, index, max_message, alive)
            except _KernelGone:
                failure = f"the kernel of session {session_id} stopped while running cell {index + 1}"
                break
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
        channels.close()
        context.term()
        try:
            if ran:
                _fill_outputs(code_cells, spool)
                _save_outputs(manager.notebooks, project_key, name, content)
        finally:
            spool.close()
    if failure:
        raise OperationError(f"Running notebook {name} stopped: {failure}")
    return {
        "sessionId": session_id,
        "cellsRun": ran,
        "codeCells": len(code_cells),
        "outputBytes": spool.run_bytes,
        "outputTruncated": spool.truncated,
    }


class _Channels:
    """The run's client of the kernel, and a monitor of its IOPub connection.

    A message over ZMQ_MAXMSGSIZE is refused unread by dropping the IOPub connection, and
    zmq does not bring that subscription back: nothing later, of any cell, would arrive.
    `reopen()` starts a fresh client on the same connection file instead."""

    def __init__(self, context: zmq.asyncio.Context, connection_file: str) -> None:
        self.context, self.connection_file = context, connection_file
        self._open()

    def _open(self) -> None:
        self.client = AsyncKernelClient(context=self.context)
        self.client.load_connection_file(self.connection_file)
        self.client.start_channels()
        self.dropped = self.client.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    def close(self) -> None:
        self.client.iopub_channel.socket.disable_monitor()
        self.dropped.close(linger=0)
        self.client.stop_channels()

    def reopen(self) -> None:
        self.close()
        self._open()


async def _settle(channels: _Channels, spool: OutputSpool, index: int, max_message: int, alive: Any) -> None:
    """After a cell whose IOPub connection dropped an oversized message: count it as lost,
    reopen the channels, and read what is left of this cell's output (into it) until the
    kernel's answer to a kernel_info comes through the new IOPub connection; from then on
    the next cell's outputs arrive. A connection dropped again is reopened again."""
    for _ in range(MAX_REOPENS):
        if not await channels.dropped.poll(0):
            return
        while await channels.dropped.poll(0):
            await channels.dropped.recv_multipart()
        spool.lost_message(index, max_message)
        with contextlib.suppress(Empty):  # what the old connection still holds is this cell's
            while True:
                msg = await channels.client.get_iopub_msg(timeout=0.05)
                if msg["msg_type"] != "status":
                    spool.add(msg)
        channels.reopen()
        await _await_iopub(channels, spool, alive)


async def _await_iopub(channels: _Channels, spool: OutputSpool, alive: Any) -> None:
    """Ask the kernel for its info until the answer's status message arrives on IOPub (the
    subscription is then live), spooling the outputs read meanwhile; return early when the
    connection drops again."""
    client = channels.client
    asked: set[str] = set()
    for _ in range(int(NUDGE_FOR / NUDGE_EVERY)):
        asked.add(client.kernel_info())
        try:
            while True:
                msg = await client.get_iopub_msg(timeout=NUDGE_EVERY)
                if msg["msg_type"] != "status":
                    spool.add(msg)
                elif (msg.get("parent_header") or {}).get("msg_id") in asked:
                    return
        except Empty:
            pass
        if await channels.dropped.poll(0):
            return
        if not alive():
            raise _KernelGone


def _limit(section: dict[str, Any], key: str, default: int) -> int:
    value = section.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _fill_outputs(code_cells: list[dict[str, Any]], spool: OutputSpool) -> None:
    """Put the spooled outputs into the cells that ran; mark the truncated ones."""
    for index, outputs in spool.outputs().items():
        cell = code_cells[index]
        cell["outputs"] = outputs
        if index in spool.dropped:
            marks = cell.setdefault("metadata", {}).setdefault("labkeeper", {})
            marks["outputTruncated"] = {
                "droppedBytes": spool.dropped[index],
                "limit": spool.limits.get(index, ""),
            }


def _save_outputs(notebooks: NotebookStorage, project_key: str, name: str, executed: dict[str, Any]) -> None:
    """Write the outputs into the notebook as it is now (matched by cell id, else by position)."""
    try:
        current = notebooks.read(project_key, name)
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
            truncated = (source.get("metadata") or {}).get("labkeeper", {}).get("outputTruncated")
            if truncated:
                cell.setdefault("metadata", {}).setdefault("labkeeper", {})["outputTruncated"] = truncated
    notebooks.write(project_key, name, current)
