"""The outputs of a notebook run, streamed to a private file as they arrive, within caps.

A run never holds its kernel's output in memory: each output message is appended to a spool
file (`data_dir/jupyter/run-outputs/`, the server's alone) and only counters stay in memory.
Two caps bound what is kept, counted in bytes of the outputs' JSON:

- `notebooks.maxCellOutputBytes`: per cell (since its last `clear_output`);
- `notebooks.maxRunOutputBytes`: per run, everything written to the spool; once reached,
  nothing later in the run is kept.

Past a cap, outputs are counted and dropped (a stream chunk that crosses it keeps its head).
A single message bigger than the cell cap is refused by zmq before it is read (the run's
IOPub socket has ZMQ_MAXMSGSIZE), so it never reaches memory; it counts as dropped, at
least its cap's worth. zmq refuses it by dropping the connection for good, so the run then
reopens its channels before the next cell (see `run._settle`).
The saved cell then ends with a stderr stream saying the output was truncated, like
Jupyter's "Output truncated" notice, and its metadata says how much was dropped
(`metadata.labkeeper.outputTruncated`). The notebook is assembled from the spool when the
run ends: at most the run cap is read back.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
from nbformat.v4 import output_from_msg

KEPT_KINDS = ("stream", "display_data", "execute_result", "error")
DEFAULT_MAX_RUN_OUTPUT_BYTES = 50_000_000
DEFAULT_MAX_CELL_OUTPUT_BYTES = 10_000_000


def spool_dir(data_dir: Path) -> Path:
    folder = Path(data_dir) / "jupyter" / "run-outputs"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


class OutputSpool:
    def __init__(self, folder: Path, *, max_run_bytes: int, max_cell_bytes: int) -> None:
        fd, path = tempfile.mkstemp(dir=folder, prefix="run-", suffix=".jsonl")  # 0600
        self.path = Path(path)
        self._file = os.fdopen(fd, "wb")
        self.max_run_bytes = max_run_bytes
        self.max_cell_bytes = max_cell_bytes
        self.run_bytes = 0
        self.run_full = False
        self._cell = -1
        self._cell_bytes = 0
        self._clear_pending = False
        self.dropped: dict[int, int] = {}  # cell index -> bytes not kept
        self.limits: dict[int, str] = {}  # cell index -> the setting that cut it

    @property
    def truncated(self) -> bool:
        return bool(self.dropped)

    def start_cell(self, index: int) -> None:
        self._cell, self._cell_bytes, self._clear_pending = index, 0, False

    def add(self, msg: dict[str, Any]) -> None:
        """Record one IOPub message of the current cell (anything but an output is ignored)."""
        kind = msg["msg_type"]
        if kind == "clear_output":
            if msg["content"].get("wait"):
                self._clear_pending = True
            else:
                self._clear()
            return
        if kind not in KEPT_KINDS:
            return
        if self._clear_pending:
            self._clear_pending = False
            self._clear()
        output = dict(output_from_msg(msg))
        line = orjson.dumps([self._cell, output])
        run_room = 0 if self.run_full else self.max_run_bytes - self.run_bytes
        room = min(self.max_cell_bytes - self._cell_bytes, run_room)
        if len(line) > room:
            if run_room <= self.max_cell_bytes - self._cell_bytes:
                limit, self.run_full = "notebooks.maxRunOutputBytes", True  # nothing later is kept
            else:
                limit = "notebooks.maxCellOutputBytes"
            self.limits.setdefault(self._cell, limit)
            kept = self._head(output, room) if kind == "stream" else None
            if kept is None:
                self.dropped[self._cell] = self.dropped.get(self._cell, 0) + len(line)
                return
            self.dropped[self._cell] = self.dropped.get(self._cell, 0) + len(line) - len(kept)
            line = kept
        self._file.write(line + b"\n")
        self._cell_bytes += len(line)
        self.run_bytes += len(line)

    def lost_message(self, index: int, max_message: int) -> None:
        """A message over `max_message` bytes was refused before it was read (its size unknown)."""
        self.dropped[index] = self.dropped.get(index, 0) + max_message
        self.limits.setdefault(index, "notebooks.maxCellOutputBytes")

    def _head(self, output: dict[str, Any], room: int) -> bytes | None:
        """The stream output cut to fit in `room` bytes of spool, or None when nothing fits."""
        text = output.get("text") or ""
        budget = room - len(orjson.dumps([self._cell, {**output, "text": ""}])) - 16
        if budget <= 0:
            return None
        head = text.encode()[: budget // 2].decode(errors="ignore")  # JSON may escape: room to spare
        return orjson.dumps([self._cell, {**output, "text": head}]) if head else None

    def _clear(self) -> None:
        self._file.write(orjson.dumps([self._cell, None]) + b"\n")
        self._cell_bytes = 0

    def outputs(self) -> dict[int, list[dict[str, Any]]]:
        """Every kept output by cell index, consecutive stream chunks merged, with the
        truncation notice appended where something was dropped."""
        self._file.flush()
        cells: dict[int, list[dict[str, Any]]] = {}
        pieces: dict[int, list[str]] = {}  # text chunks of each cell's last stream output
        with open(self.path, "rb") as spool:
            for raw in spool:
                index, output = orjson.loads(raw)
                outputs = cells.setdefault(index, [])
                if output is None:
                    outputs.clear()
                    pieces.pop(index, None)
                    continue
                last = outputs[-1] if outputs else None
                if (
                    output.get("output_type") == "stream"
                    and last is not None
                    and last.get("output_type") == "stream"
                    and last.get("name") == output.get("name")
                ):
                    pieces[index].append(output["text"])
                    continue
                self._join(outputs, pieces.pop(index, None))
                if output.get("output_type") == "stream":
                    pieces[index] = [output["text"]]
                outputs.append(output)
        for index, outputs in cells.items():
            self._join(outputs, pieces.get(index))
        for index, dropped in self.dropped.items():
            cells.setdefault(index, []).append(notice(dropped, self.limits.get(index, ""), self))
        return cells

    @staticmethod
    def _join(outputs: list[dict[str, Any]], chunks: list[str] | None) -> None:
        if chunks is not None and outputs:
            outputs[-1]["text"] = "".join(chunks)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()
        self.path.unlink(missing_ok=True)


def notice(dropped: int, limit: str, spool: OutputSpool) -> dict[str, Any]:
    cap = spool.max_run_bytes if limit == "notebooks.maxRunOutputBytes" else spool.max_cell_bytes
    return {
        "output_type": "stream",
        "name": "stderr",
        "text": f"\n[Output truncated: {dropped:,} bytes of output were not kept, past {limit} "
        f"({cap:,} bytes). Write large results to a file instead of printing them.]\n",
    }
