"""Build logs every API node answers: when a build ends, the node that ran it copies its log
(masked as it was written) into `code_env_build_logs`. Listing merges this node's files with
the stored logs; reading takes this node's file (a build still running writes it) and else
the stored copy. On one machine the two hold the same logs and the file wins.

A stored log keeps its last MAX_STORED_BYTES (the head of a huge pip output goes first).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from labkeeper.codeenvs import logs
from labkeeper.codeenvs.masking import mask
from labkeeper.codeenvs.models import StoredBuildLog
from labkeeper.db import Store, now_ms
from labkeeper.errors import NotFound
from labkeeper.futures.models import Task

log = logging.getLogger("labkeeper.codeenvs")
MAX_STORED_BYTES = 4 * 1024 * 1024


def keep(store: Store, lang: str, name: str, build_log: logs.BuildLog, task_id: str) -> None:
    """Copy a finished build's log into the store (a failure is logged, never raised: the
    build's outcome does not depend on it)."""
    try:
        data = build_log.path.read_bytes()[-MAX_STORED_BYTES:].decode("utf-8", errors="replace")
        with store.begin() as s:
            node = s.scalar(select(Task.node).where(Task.id == task_id)) or ""
            values = {"node": node, "content": data, "size": len(data), "modified_on": now_ms()}
            key = (lang.upper(), name, build_log.name)
            done = s.execute(
                update(StoredBuildLog)
                .where(
                    StoredBuildLog.env_lang == key[0],
                    StoredBuildLog.env_name == key[1],
                    StoredBuildLog.name == key[2],
                )
                .values(**values)
            )
            if not done.rowcount:
                s.add(StoredBuildLog(env_lang=key[0], env_name=key[1], name=key[2], **values))
    except Exception:  # noqa: BLE001 - the file stays on this node, readable there
        log.warning("could not copy build log %s into the store", build_log.name, exc_info=True)


def list_logs(store: Store, data_dir: Path, lang: str, name: str) -> list[dict[str, Any]]:
    items = {item["name"]: item for item in logs.list_logs(data_dir, lang, name)}
    with store.read() as s:
        stored = list(
            s.scalars(
                select(StoredBuildLog).where(
                    StoredBuildLog.env_lang == lang.upper(), StoredBuildLog.env_name == name
                )
            )
        )
    for row in stored:
        if row.name in items:
            continue
        parts = row.name.removesuffix(".log").split("-")
        items[row.name] = {
            "name": row.name,
            "size": row.size,
            "lastModified": row.modified_on,
            "mode": "-".join(parts[2:-1]),
            "futureId": parts[-1],
        }
    return sorted(items.values(), key=lambda item: item["name"], reverse=True)


def read_log(store: Store, data_dir: Path, lang: str, name: str, log_name: str) -> str:
    try:
        return logs.read_log(data_dir, lang, name, log_name)
    except NotFound:
        with store.read() as s:
            row = s.get(StoredBuildLog, (lang.upper(), name, log_name))
        if row is None:
            raise
        return mask(row.content)


def remove(store: Store, lang: str, name: str) -> None:
    with store.begin() as s:
        s.execute(
            delete(StoredBuildLog).where(
                StoredBuildLog.env_lang == lang.upper(), StoredBuildLog.env_name == name
            )
        )
