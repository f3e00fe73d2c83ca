"""The instance usage summary: counts by GROUP BY queries, never a walk over projects.

Domains that own notebooks register a counter here (`register_notebook_counter`): a
function of a read session returning {project_key: count}. An unregistered counter
reads as 0, so the summary always has every field the official client reads. A counter
that reads files is registered with `reads_files=True` and returns (counts, the file stamp
of what it read, taken before it read it: server/answers.py), so the summary can be kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from labkeeper.db import Store
from labkeeper.projects.models import Project, ProjectObject
from labkeeper.server.answers import combined_stamp

NotebookCounter = Callable[[Session], dict[str, int]]
NOTEBOOK_KINDS = ("nbJupyterNotebooks", "nbSqlNotebooks")
_KIND_FIELDS = {"DATASET": "datasets", "RECIPE": "recipes", "SCENARIO": "scenarios"}
_notebook_counters: dict[str, NotebookCounter] = {}
_reading_files: set[str] = set()


def register_notebook_counter(
    kind: str, counter: Callable[[Session], Any], *, reads_files: bool = False
) -> None:
    """Register the counter of one notebook kind (nbJupyterNotebooks or nbSqlNotebooks)."""
    if kind not in NOTEBOOK_KINDS:
        raise ValueError(f"unknown notebook kind {kind!r}: use one of {', '.join(NOTEBOOK_KINDS)}")
    _notebook_counters[kind] = counter
    if reads_files:
        _reading_files.add(kind)
    else:
        _reading_files.discard(kind)


def _empty_counts() -> dict[str, Any]:
    return {
        "datasets": {"all": 0},
        "recipes": {"all": 0},
        "scenarios": {"all": 0, "activeWithTriggers": 0},
        "notebooks": {kind: 0 for kind in NOTEBOOK_KINDS},
    }


def global_usage_summary(
    store: Store, *, with_per_project: bool
) -> tuple[dict[str, Any], tuple[Callable[[], Any], Any] | None]:
    """The summary, and the file stamp of the files counted (None: none was read)."""
    by_type = select(
        ProjectObject.project_key,
        ProjectObject.kind,
        ProjectObject.type,
        func.count().label("n"),
        func.sum(case((ProjectObject.active_with_triggers, 1), else_=0)).label("active"),
    ).group_by(ProjectObject.project_key, ProjectObject.kind, ProjectObject.type)
    with store.read() as s:
        if with_per_project:
            project_keys = list(s.scalars(select(Project.key).order_by(Project.key)))
            project_count = len(project_keys)
        else:
            project_count = s.scalar(select(func.count()).select_from(Project)) or 0
        rows = s.execute(by_type).all()
        notebooks = {kind: counter(s) for kind, counter in _notebook_counters.items()}
    stamps = []
    for kind in _reading_files & set(notebooks):
        notebooks[kind], stamp = notebooks[kind]
        stamps.append(stamp)

    total = _empty_counts()
    per_project: dict[str, dict[str, Any]] = defaultdict(_empty_counts)
    for row in rows:
        field = _KIND_FIELDS.get(row.kind)
        if field is None:
            continue
        for counts in (total, per_project[row.project_key]):
            section = counts[field]
            section["all"] += row.n
            if field == "scenarios":
                section["activeWithTriggers"] += int(row.active or 0)
            else:
                section[row.type] = section.get(row.type, 0) + row.n
    for kind, counts_by_project in notebooks.items():
        for key, n in counts_by_project.items():
            total["notebooks"][kind] += n
            per_project[key]["notebooks"][kind] += n

    summary: dict[str, Any] = {"projects": project_count, **total}
    if with_per_project:
        summary["projectSummaries"] = [
            {"projectKey": key, **per_project.get(key, _empty_counts())} for key in project_keys
        ]
    return summary, (combined_stamp(stamps) if stamps else None)
