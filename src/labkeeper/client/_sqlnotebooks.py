"""SQL notebooks: the `DSSProject` methods (`SQLNotebookProjectMethods`), the notebook
handle, its content, and the history of its cells' runs.

labkeeper's additions: `DSSSQLNotebook.run_cell` (runs a QUERY cell as a future) and
`DSSSQLNotebook.get_query_run` (one run with the rows it kept).
"""

from __future__ import annotations

from typing import Any

from labkeeper.client._futures import DSSFuture
from labkeeper.client._http import Requester, path_segment


def _notebook_path(project_key: str, notebook_id: str, suffix: str = "") -> str:
    return f"/projects/{path_segment(project_key)}/sql-notebooks/{path_segment(notebook_id)}{suffix}"


class DSSSQLNotebookListItem(dict):
    """One entry of `DSSProject.list_sql_notebooks()`: a dict with `projectKey`, `id`,
    `name`, `language`, `connection` and `tags`."""

    def __init__(self, client: Requester, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.client = client
        self._data = data

    def to_notebook(self) -> DSSSQLNotebook:
        """A handle on this notebook."""
        return DSSSQLNotebook(self.client, self._data["projectKey"], self._data["id"])

    @property
    def id(self) -> str:
        return self._data["id"]

    @property
    def language(self) -> str:
        """Always `SQL` on labkeeper."""
        return self._data["language"]

    @property
    def connection(self) -> str:
        return self._data["connection"]

    @property
    def tags(self) -> list[str]:
        return self._data["tags"]


class DSSSQLNotebook:
    """A SQL notebook, by project key and id. Getting the handle sends nothing."""

    def __init__(self, client: Requester, project_key: str, notebook_id: str) -> None:
        self.client = client
        self.project_key = project_key
        self.notebook_id = notebook_id

    def _path(self, suffix: str = "") -> str:
        return _notebook_path(self.project_key, self.notebook_id, suffix)

    def get_content(self) -> DSSNotebookContent:
        """The notebook's content (connection and cells), to change and `save()`."""
        content = self.client._perform_json("GET", self._path())
        return DSSNotebookContent(self.client, self.project_key, self.notebook_id, content)

    def get_history(self) -> DSSNotebookHistory:
        """The runs of every cell, most recent first."""
        history = self.client._perform_json("GET", self._path("/history"))
        return DSSNotebookHistory(self.client, self.project_key, self.notebook_id, history)

    def clear_history(self, cell_id: str | None = None, num_runs_to_retain: int = 0) -> None:
        """Delete the runs of one cell (all cells when None), keeping the most recent
        `num_runs_to_retain` of each."""
        self.client._perform_empty(
            "POST",
            self._path("/history/clear"),
            body={"cellId": cell_id, "numRunsToRetain": num_runs_to_retain},
        )

    def delete(self) -> Any:
        """Delete the notebook and its history (runs still running are aborted)."""
        return self.client._perform_json("DELETE", self._path())

    def run_cell(self, cell_id: str, wait: bool = True) -> dict[str, Any] | DSSFuture:
        """labkeeper addition: run a QUERY cell, its `${variables}` expanded from the project's.

        With `wait=True`, returns the run: `state`, `columns` (`name`, `type`), `rows` (the
        first `sqlNotebooks.maxRowsKept`), `rowCount`, `durationMs`, `expandedSql`...; a
        failed or aborted run raises. With `wait=False`, returns the future of the run (abort
        it to cancel the query on the database).
        """
        answer = self.client._perform_json(
            "POST", self._path(f"/cells/{path_segment(cell_id)}/actions/run"), params={"wait": wait}
        )
        if wait:
            return answer["result"]
        return DSSFuture.from_resp(self.client, answer)

    def get_query_run(self, run_id: str) -> dict[str, Any]:
        """labkeeper addition: one run of a cell, with the `rows` it kept."""
        return self.client._perform_json("GET", self._path(f"/runs/{path_segment(run_id)}"))


class DSSNotebookContent:
    """A notebook's content; `get_raw()` is the live dict that `save()` sends."""

    def __init__(
        self, client: Requester, project_key: str, notebook_id: str, content: dict[str, Any]
    ) -> None:
        self.client = client
        self.project_key = project_key
        self.notebook_id = notebook_id
        self.content = content

    def get_raw(self) -> dict[str, Any]:
        return self.content

    @property
    def connection(self) -> str:
        return self.content["connection"]

    @connection.setter
    def connection(self, connection: str) -> None:
        self.content["connection"] = connection

    @property
    def cells(self) -> list[dict[str, Any]]:
        """The cells: dicts with `id`, `type` (QUERY or MARKDOWN), `name` and `code`."""
        return self.content["cells"]

    @cells.setter
    def cells(self, cells: list[dict[str, Any]]) -> None:
        self.content["cells"] = cells

    def save(self) -> Any:
        """Write the content back; returns the saved document."""
        return self.client._perform_json(
            "PUT", _notebook_path(self.project_key, self.notebook_id), body=self.content
        )


DSSSQLNotebookContent = DSSNotebookContent


class DSSNotebookHistory:
    """The runs of a notebook's cells. `history` maps each cell id to {run id: run}; delete
    runs through `get_query_runs(...)[i].delete()`, then `save()`."""

    def __init__(
        self, client: Requester, project_key: str, notebook_id: str, history: dict[str, Any]
    ) -> None:
        self.client = client
        self.project_key = project_key
        self.notebook_id = notebook_id
        self.history = {cell_id: {run["id"]: run for run in runs} for cell_id, runs in history.items()}

    def get_query_runs(self, cell_id: str, as_type: str = "listitems") -> list[DSSNotebookQueryRunListItem]:
        """The runs of one cell (KeyError for a cell that is not in the history)."""
        if as_type not in ("listitems", "listitem"):
            raise ValueError("Unknown as_type: only 'listitems' is supported")
        runs = self.history[cell_id]
        return [DSSNotebookQueryRunListItem(runs, run) for run in runs.values()]

    def save(self) -> None:
        """Keep only the runs still in `history`."""
        self.client._perform_empty(
            "PUT",
            _notebook_path(self.project_key, self.notebook_id, "/history"),
            body={cell_id: list(runs.values()) for cell_id, runs in self.history.items()},
        )


class DSSNotebookQueryRunListItem:
    """One run of a cell: `id`, `runOn`, `runBy`, `state` (DONE, FAILED, ABORTED, or RUNNING),
    `sql`, `expandedSql`, `durationMs`, `rowCount`, `columns` and, when failed, `error`."""

    def __init__(self, query_runs: dict[str, Any], query_run: dict[str, Any]) -> None:
        self.query_runs = query_runs
        self.query_run = query_run

    def get_raw(self) -> dict[str, Any]:
        return self.query_run

    def delete(self) -> None:
        """Remove the run from its history; `DSSNotebookHistory.save()` makes it final."""
        del self.query_runs[self.query_run["id"]]


class SQLNotebookProjectMethods:
    """The SQL notebook methods of `DSSProject` (which sets `client` and `project_key`)."""

    client: Requester
    project_key: str

    def list_sql_notebooks(self, as_type: str = "listitems") -> list[Any]:
        """The project's SQL notebooks, as list items (`listitems`) or handles (`objects`)."""
        items = self.client._perform_json("GET", f"/projects/{path_segment(self.project_key)}/sql-notebooks/")
        if as_type in ("listitems", "listitem"):
            return [DSSSQLNotebookListItem(self.client, item) for item in items]
        if as_type in ("objects", "object"):
            return [DSSSQLNotebook(self.client, self.project_key, item["id"]) for item in items]
        raise ValueError("Unknown as_type: use 'listitems' or 'objects'")

    def get_sql_notebook(self, notebook_id: str) -> DSSSQLNotebook:
        """A handle on a SQL notebook (sends nothing)."""
        return DSSSQLNotebook(self.client, self.project_key, notebook_id)

    def create_sql_notebook(self, notebook_content: dict[str, Any]) -> DSSSQLNotebook:
        """Create a notebook from content `{connection, cells, name?}`; the server picks its id."""
        created = self.client._perform_json(
            "POST", f"/projects/{path_segment(self.project_key)}/sql-notebooks/", body=notebook_content
        )
        return DSSSQLNotebook(self.client, self.project_key, created["id"])
