"""One row per live notebook session (a running kernel), the truth every worker reads.

The worker that started a kernel (`worker_id`, host:pid:nonce) owns its process and keeps
its execution state here; the pid and its create time let a restart, or another worker,
stop exactly that process tree.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base

# RESTARTING: between the stop of a kernel's process and the record of its next one (restart.py).
# FAILED: a kernel another node was asked to start did not start (`start_error` says why);
# the API node that asked deletes the row once it has read it.
STARTING, RUNNING, RESTARTING, FAILED = "STARTING", "RUNNING", "RESTARTING", "FAILED"


class JupyterSession(Base):
    __tablename__ = "jupyter_sessions"
    __table_args__ = (Index("ix_jupyter_sessions_notebook", "project_key", "notebook_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kernel_id: Mapped[str] = mapped_column(String(40), unique=True)
    project_key: Mapped[str] = mapped_column(String(100))
    notebook_name: Mapped[str] = mapped_column(String(100))
    kernel_name: Mapped[str] = mapped_column(String(200))
    creator: Mapped[str] = mapped_column(String(100), index=True)
    creator_display_name: Mapped[str] = mapped_column(String(200), default="")
    unix_owner: Mapped[str] = mapped_column(String(100))
    unix_uid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=STARTING)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pid_create_time: Mapped[float] = mapped_column(Float, default=0.0)
    worker_id: Mapped[str] = mapped_column(String(200), index=True)
    # The node (GET /admin/nodes) on whose machine the kernel runs.
    node: Mapped[str] = mapped_column(String(100), default="")
    api_key_id: Mapped[str] = mapped_column(String(40), default="")
    connection_file: Mapped[str] = mapped_column(Text, default="")
    socket_dir: Mapped[str] = mapped_column(Text, default="")
    work_dir: Mapped[str] = mapped_column(Text, default="")
    server_url: Mapped[str] = mapped_column(String(300), default="")
    execution_state: Mapped[str] = mapped_column(String(20), default="starting")
    connections: Mapped[int] = mapped_column(Integer, default=0)
    started_on: Mapped[int] = mapped_column(BigInteger)
    last_activity_on: Mapped[int] = mapped_column(BigInteger, default=0)
    # Reported by the kernel's node now and then (notebooks/jupyter/remote.py), for the nodes
    # that cannot read the kernel's process.
    rss_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    cpu_time: Mapped[float] = mapped_column(Float, default=0.0)
    start_error: Mapped[str] = mapped_column(Text, default="")


class StoredNotebook(Base):
    """A notebook document (.ipynb JSON) kept in the store, when notebooks are stored there."""

    __tablename__ = "jupyter_notebooks"

    project_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    modified_on: Mapped[int] = mapped_column(BigInteger)


class StoredCheckpoint(Base):
    """A notebook's Lab checkpoint, kept in the store with the notebook (lab/checkpoints.py)."""

    __tablename__ = "jupyter_checkpoints"

    project_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    modified_on: Mapped[int] = mapped_column(BigInteger)


class StoredKernelLog(Base):
    """The tail of a session's kernel log, copied by the kernel's node (kernellogs.py)."""

    __tablename__ = "jupyter_kernel_logs"

    session_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)  # of the whole file on its node
    modified_on: Mapped[int] = mapped_column(BigInteger)
