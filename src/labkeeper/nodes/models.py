"""One row per node (a `labkeeper serve` or `labkeeper worker` process), kept by its heartbeat.

The table has no change-stamp trigger on purpose: a heartbeat every few seconds must not
invalidate every kept answer of the instance.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class Node(Base):
    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    version: Mapped[str] = mapped_column(String(40), default="")
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    public_url: Mapped[str] = mapped_column(String(300), default="")
    started_on: Mapped[int] = mapped_column(BigInteger)
    heartbeat_on: Mapped[int] = mapped_column(BigInteger)
    stopped_on: Mapped[int] = mapped_column(BigInteger, default=0)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)
    live_kernels: Mapped[int] = mapped_column(Integer, default=0)
    running_tasks: Mapped[int] = mapped_column(Integer, default=0)
    # The kernels this node can start: kernelspec name (lower case) -> its code env ("" for the
    # built-in kernel), refreshed by each heartbeat; placements read it.
    kernels: Mapped[dict] = mapped_column(default=dict)
    # The operator's labels of this node (`--label`): a project pinned to a label runs its
    # kernels only on nodes that carry it.
    labels: Mapped[list] = mapped_column(default=list)
