"""Reports read from the instance: the global usage summary and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labkeeper.client._http import Requester, path_segment
from labkeeper.client._time import to_ms


class DSSGlobalUsageSummary:
    """Counts of the objects on the instance (from `DSSClient.get_global_usage_summary()`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def raw(self) -> dict[str, Any]:
        """The whole summary: per object kind an `all` count and counts by type, and with
        `with_per_project=True` a per-project breakdown."""
        return self.data

    @property
    def projects_count(self) -> int:
        return self.data["projects"]

    @property
    def total_datasets_count(self) -> int:
        return self.data["datasets"]["all"]

    @property
    def total_recipes_count(self) -> int:
        return self.data["recipes"]["all"]

    @property
    def total_jupyter_notebooks_count(self) -> int:
        return self.data["notebooks"]["nbJupyterNotebooks"]

    @property
    def total_sql_notebooks_count(self) -> int:
        return self.data["notebooks"]["nbSqlNotebooks"]

    @property
    def total_scenarios_count(self) -> int:
        return self.data["scenarios"]["all"]

    @property
    def total_active_with_trigger_scenarios_count(self) -> int:
        return self.data["scenarios"]["activeWithTriggers"]


class ReportMethods(Requester):
    """DSSClient methods for usage and audit (admin only, except `log_custom_audit`)."""

    def get_global_usage_summary(self, with_per_project: bool = False) -> DSSGlobalUsageSummary:
        """Counts of projects, datasets, recipes, scenarios and notebooks."""
        data = self._perform_json(
            "GET", "/admin/monitoring/global-usage-summary", params={"withPerProject": with_per_project}
        )
        return DSSGlobalUsageSummary(data)

    def log_custom_audit(self, custom_type: str, custom_params: dict[str, Any] | None = None) -> None:
        """Append a custom event (`custom:<custom_type>`, with `custom_params` as details) to
        the audit log."""
        self._perform_empty(
            "POST", f"/admin/audit/custom/{path_segment(custom_type)}", body=dict(custom_params or {})
        )

    def get_audit_log(
        self, since: int | datetime | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[dict[str, Any]]:
        """Audit events, newest first: `{id, time, user, apiKeyId, action, target, outcome,
        details}`. labkeeper addition.

        `since` (ms since the epoch, or a datetime) keeps events at or after that time;
        `limit` and `offset` page through the rest.
        """
        return self._perform_json(
            "GET", "/admin/audit", params={"since": to_ms(since), "limit": limit, "offset": offset}
        )
