"""Jupyter notebooks: the `DSSProject` methods (`JupyterNotebookProjectMethods`), the
notebook handle, its content, its sessions, the legacy `DSSNotebook`, and the client's
`list_running_notebooks` (`RunningNotebookMethods`).

labkeeper's additions: `DSSJupyterNotebook.start_session` (starts a kernel for the caller),
`DSSJupyterNotebook.run_all` (runs every code cell in a session as a future, saving the
outputs), and the session fields `kernelName`, `kernelMemoryRss` (bytes) and
`kernelCpuTime` (seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labkeeper.client._exceptions import DataikuException
from labkeeper.client._http import Requester, path_segment

if TYPE_CHECKING:
    from labkeeper.client import DSSFuture


def _notebook_path(project_key: str, name: str, suffix: str = "") -> str:
    return f"/projects/{path_segment(project_key)}/jupyter-notebooks/{path_segment(name)}{suffix}"


class DSSJupyterNotebookListItem(dict):
    """One entry of `DSSProject.list_jupyter_notebooks(as_type="listitems")`: a dict with
    `projectKey`, `name`, `language`, `kernelSpec` and `tags`."""

    def __init__(self, client: Requester, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.client = client
        self._data = data

    def to_notebook(self) -> DSSJupyterNotebook:
        return DSSJupyterNotebook(self.client, self._data["projectKey"], self._data["name"])

    @property
    def name(self) -> str:
        return self._data["name"]

    @property
    def language(self) -> str:
        return self._data["language"]

    @property
    def kernel_spec(self) -> dict[str, Any]:
        """`{name, display_name, language}` of the notebook's kernel."""
        return self._data["kernelSpec"]

    @property
    def tags(self) -> list[str]:
        return self._data["tags"]


class DSSNotebookSession:
    """A running session (kernel) of a notebook, as `DSSJupyterNotebook.get_sessions(as_objects=True)`
    returns it. Attributes mirror the session's fields; `raw` keeps them all."""

    def __init__(self, client: Requester, session: dict[str, Any]) -> None:
        self.client = client
        self.raw = session
        self.project_key = session.get("projectKey")
        self.notebook_name = session.get("notebookName")
        self.session_creator = session.get("sessionCreator")
        self.session_creator_display_name = session.get("sessionCreatorDisplayName")
        self.session_unix_owner = session.get("sessionUnixOwner")
        self.session_id = session.get("sessionId")
        self.kernel_id = session.get("kernelId")
        self.kernel_pid = session.get("kernelPid")
        self.kernel_connections = session.get("kernelConnections")
        self.kernel_last_activity_time = session.get("kernelLastActivityTime")
        self.kernel_execution_state = session.get("kernelExecutionState")
        self.session_start_time = session.get("sessionStartTime")
        self.kernel_name = session.get("kernelName")
        self.kernel_memory_rss = session.get("kernelMemoryRss")
        self.kernel_cpu_time = session.get("kernelCpuTime")

    def unload(self) -> dict[str, Any]:
        """Stop this session's kernel."""
        return self.client._perform_json(
            "DELETE",
            _notebook_path(
                self.project_key or "", self.notebook_name or "", f"/sessions/{path_segment(self.session_id)}"
            ),
        )


class DSSJupyterNotebookContent:
    """The nbformat 4 content of a notebook; change it in place, then `save()`."""

    def __init__(
        self, client: Requester, project_key: str, notebook_name: str, content: dict[str, Any]
    ) -> None:
        self.client = client
        self.project_key = project_key
        self.notebook_name = notebook_name
        self.content = content

    def get_raw(self) -> dict[str, Any]:
        return self.content

    def get_metadata(self) -> dict[str, Any]:
        """`kernelspec`, `language_info`, `creator`, `createdOn`, `modifiedBy`, ..."""
        return self.content["metadata"]

    def get_cells(self) -> list[dict[str, Any]]:
        return self.content["cells"]

    def save(self) -> dict[str, Any]:
        return self.client._perform_json(
            "PUT", _notebook_path(self.project_key, self.notebook_name), body=self.content
        )


class DSSJupyterNotebook:
    """A Jupyter notebook of a project, by name. Getting the handle sends nothing."""

    def __init__(self, client: Requester, project_key: str, notebook_name: str) -> None:
        self.client = client
        self.project_key = project_key
        self.notebook_name = notebook_name

    def _path(self, suffix: str = "") -> str:
        return _notebook_path(self.project_key, self.notebook_name, suffix)

    def get_content(self) -> DSSJupyterNotebookContent:
        content = self.client._perform_json("GET", self._path())
        return DSSJupyterNotebookContent(self.client, self.project_key, self.notebook_name, content)

    def delete(self) -> dict[str, Any]:
        """Delete the notebook, stopping its sessions first."""
        return self.client._perform_json("DELETE", self._path())

    def clear_outputs(self) -> dict[str, Any]:
        return self.client._perform_json("DELETE", self._path("/outputs"))

    def get_sessions(self, as_objects: bool = False) -> list[dict[str, Any]] | list[DSSNotebookSession]:
        """Every live session of the notebook (dicts, or `DSSNotebookSession` objects)."""
        sessions = self.client._perform_json("GET", self._path("/sessions"))
        if as_objects:
            return [DSSNotebookSession(self.client, s) for s in sessions]
        return sessions

    def unload(self, session_id: str | None = None) -> dict[str, Any]:
        """Stop a session: the only one, or `session_id` when there are several."""
        if session_id is None:
            sessions = self.get_sessions()
            if not sessions:
                raise DataikuException("Notebook isn't running")
            if len(sessions) > 1:
                raise DataikuException("Several sessions of the notebook are running, choose one")
            session_id = sessions[0]["sessionId"]
        return self.client._perform_json("DELETE", self._path(f"/sessions/{path_segment(session_id)}"))

    def start_session(self) -> DSSNotebookSession:
        """labkeeper addition: start a kernel for the caller; returns the running session."""
        return DSSNotebookSession(self.client, self.client._perform_json("POST", self._path("/sessions")))

    def run_all(self, session_id: str | None = None, wait: bool = True) -> dict[str, Any] | DSSFuture:
        """labkeeper addition: run every code cell in a session (the caller's own: the one
        named, else their newest on this notebook, else a new one) and save the outputs into
        the notebook. With `wait=True`, returns the result (`cellsRun`, `sessionId`) and
        raises if a cell failed; otherwise returns the future (abort it to interrupt)."""
        from labkeeper.client import DSSFuture

        body = {"sessionId": session_id} if session_id is not None else {}
        answer = self.client._perform_json("POST", self._path("/actions/run"), body=body)
        future = DSSFuture.from_resp(self.client, answer)
        return future.wait_for_result() if wait else future


class DSSNotebook:
    """Deprecated view of a notebook and its sessions (use `DSSJupyterNotebook`)."""

    def __init__(
        self, client: Requester, project_key: str, notebook_name: str, state: dict[str, Any] | None = None
    ) -> None:
        self.client = client
        self.project_key = project_key
        self.notebook_name = notebook_name
        self.state = state
        self.state_is_peek = True

    def get_state(self) -> dict[str, Any]:
        if self.state is None:
            self.state = self.client._perform_json(
                "GET",
                f"/projects/{path_segment(self.project_key)}/notebooks/",
                params={"notebookName": self.notebook_name},
            )
        return self.state

    def get_sessions(self) -> list[dict[str, Any]]:
        state = self.get_state()
        if state is None or state.get("activeSessions") is None:
            raise DataikuException("Notebook isn't running")
        return state["activeSessions"]

    def unload(self, session_id: str | None = None) -> dict[str, Any]:
        sessions = self.get_sessions()
        if not sessions:
            raise DataikuException("Notebook isn't running")
        if session_id is None:
            if len(sessions) > 1:
                raise DataikuException("Several sessions of the notebook are running, choose one")
            session_id = sessions[0]["sessionId"]
        return self.client._perform_json(
            "DELETE",
            f"/projects/{path_segment(self.project_key)}/notebooks/",
            params={"notebookName": self.notebook_name, "sessionId": session_id},
        )


class JupyterNotebookProjectMethods:
    """The Jupyter notebook methods of `DSSProject`."""

    client: Requester
    project_key: str

    def list_jupyter_notebooks(
        self, active: bool = False, as_type: str = "object"
    ) -> list[DSSJupyterNotebookListItem] | list[DSSJupyterNotebook]:
        """The project's notebooks (only those with a running session when `active`), as
        handles (`as_type="object"`/`"objects"`) or list items (`"listitems"`)."""
        items = self.client._perform_json(
            "GET", f"/projects/{path_segment(self.project_key)}/jupyter-notebooks/", params={"active": active}
        )
        if as_type in ("listitems", "listitem"):
            return [DSSJupyterNotebookListItem(self.client, item) for item in items]
        if as_type in ("objects", "object"):
            return [DSSJupyterNotebook(self.client, self.project_key, item["name"]) for item in items]
        raise ValueError("Unknown as_type: use 'listitems' or 'objects'")

    def get_jupyter_notebook(self, notebook_name: str) -> DSSJupyterNotebook:
        return DSSJupyterNotebook(self.client, self.project_key, notebook_name)

    def create_jupyter_notebook(
        self, notebook_name: str, notebook_content: dict[str, Any]
    ) -> DSSJupyterNotebook:
        """Create a notebook from nbformat 4 content (another's `get_content().get_raw()` is a start)."""
        self.client._perform_json(
            "POST", _notebook_path(self.project_key, notebook_name), body=notebook_content
        )
        return self.get_jupyter_notebook(notebook_name)


class RunningNotebookMethods(Requester):
    """The notebook method of `DSSClient`."""

    def list_running_notebooks(self, as_objects: bool = True) -> list[DSSNotebook] | list[dict[str, Any]]:
        """Admin: every notebook with running sessions, each with `activeSessions`."""
        items = self._perform_json("GET", "/admin/notebooks/")
        if as_objects:
            return [DSSNotebook(self, item["projectKey"], item["name"], item) for item in items]
        return items
