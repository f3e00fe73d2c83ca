"""The task table: one row per long operation, the whole truth about its state."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base

RUNNING, DONE, FAILED, ABORTED = "RUNNING", "DONE", "FAILED", "ABORTED"
INPUT_REFUSED = "INPUT_REFUSED"  # error_kind of a task that failed on its caller's input


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    is_scenario: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str] = mapped_column(String(300), default="")
    target: Mapped[dict] = mapped_column(default=dict)
    args: Mapped[dict] = mapped_column(default=dict)
    progress: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict | None] = mapped_column(nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    # Why it failed: "" its own failure (answered 500), INPUT_REFUSED its caller's input (400).
    error_kind: Mapped[str] = mapped_column(String(20), default="")
    aborted_by: Mapped[str] = mapped_column(String(100), default="")
    abort_requested_by: Mapped[str] = mapped_column(String(100), default="")
    # Which runner (host:pid:nonce) executes it, and the processes it started ([pid, ctime]),
    # so that a restart or another worker can stop what it left behind.
    runner_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    processes: Mapped[list] = mapped_column(default=list)
    # The node that runs it (procrastinate runner), and its procrastinate job.
    node: Mapped[str] = mapped_column(String(100), default="")
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_on: Mapped[int] = mapped_column(BigInteger)
    ended_on: Mapped[int] = mapped_column(BigInteger, default=0)
