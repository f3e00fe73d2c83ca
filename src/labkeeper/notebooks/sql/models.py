"""SQL notebooks and the runs of their cells.

A notebook's cells live in its `content` document; the runs are rows of their own (one per
run of a cell), so a history is read with one indexed query and trimmed with one delete.
Both go away with their project (ON DELETE CASCADE).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base

RUNNING, DONE, FAILED, ABORTED = "RUNNING", "DONE", "FAILED", "ABORTED"


class SqlNotebook(Base):
    __tablename__ = "sql_notebooks"

    project_key: Mapped[str] = mapped_column(ForeignKey("projects.key", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(20), default="SQL")
    connection: Mapped[str] = mapped_column(String(100), index=True)
    # The document as the API shows it, minus the fields kept in columns.
    content: Mapped[dict] = mapped_column(default=dict)
    tags: Mapped[list] = mapped_column(default=list)
    created_on: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    modified_on: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_by: Mapped[str] = mapped_column(String(100), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)


class SqlQueryRun(Base):
    __tablename__ = "sql_query_runs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_key", "notebook_id"],
            ["sql_notebooks.project_key", "sql_notebooks.id"],
            ondelete="CASCADE",
        ),
        Index("ix_sql_query_runs_cell", "project_key", "notebook_id", "cell_id", "run_on"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_key: Mapped[str] = mapped_column(String(100))
    notebook_id: Mapped[str] = mapped_column(String(40))
    cell_id: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[str] = mapped_column(String(40), default="")
    connection: Mapped[str] = mapped_column(String(100))
    run_on: Mapped[int] = mapped_column(BigInteger)
    run_by: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    sql: Mapped[str] = mapped_column(Text)
    expanded_sql: Mapped[str] = mapped_column(Text)
    ended_on: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # The rows were counted only until a row too large to read stopped the query.
    row_count_is_lower_bound: Mapped[bool] = mapped_column(Boolean, default=False)
    rows_kept: Mapped[int] = mapped_column(Integer, default=0)
    has_result_set: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{name, type}] and the first rows (at most sqlNotebooks.maxRowsKept), as JSON values;
    # read only when a run is asked for with its rows (histories leave them deferred).
    columns: Mapped[list] = mapped_column(default=list)
    rows: Mapped[list] = mapped_column(default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    # While the query runs on PostgreSQL: {backendPid, applicationName}, so that the next
    # start can stop a query its dead server left running (see notebooks/sql/recovery.py).
    database_session: Mapped[dict] = mapped_column(default=dict)
