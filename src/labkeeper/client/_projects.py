"""Projects: the DSSClient methods, the `DSSProject` handle and its settings."""

from __future__ import annotations

from typing import Any

from labkeeper.client._futures import DSSFuture
from labkeeper.client._http import Requester, path_segment
from labkeeper.client._jupyter import JupyterNotebookProjectMethods
from labkeeper.client._sqlnotebooks import SQLNotebookProjectMethods

_LIST_ITEMS = ("listitems", "listitem")


def _check_listitems(as_type: str, what: str) -> None:
    # Handles on datasets, recipes and scenarios are not part of labkeeper's client yet.
    if as_type not in _LIST_ITEMS:
        raise ValueError(f"labkeeper's client lists {what} as dicts only: use as_type='listitems'")


class DSSProjectSettings:
    """A project's settings document; `get_raw()` is the live dict that `save()` sends."""

    def __init__(self, client: Requester, project_key: str, settings: dict[str, Any]) -> None:
        self.client = client
        self.project_key = project_key
        self.settings = settings

    def get_raw(self) -> dict[str, Any]:
        """The settings dict itself (not a copy): edits to it are saved by `save()`."""
        return self.settings

    def _code_env(self, language: str) -> dict[str, Any]:
        code_envs = self.settings.setdefault("settings", {}).setdefault("codeEnvs", {})
        return code_envs.setdefault(language, {})

    def _set_code_env(self, language: str, env_name: str | None) -> None:
        selection = self._code_env(language)
        if env_name is None:
            selection.update(useBuiltinEnv=True, mode="USE_BUILTIN_MODE")
        else:
            selection.update(useBuiltinEnv=False, envName=env_name, mode="EXPLICIT_ENV")

    def set_python_code_env(self, code_env_name: str | None) -> None:
        """Make the project's Python code run in that code env, or in the builtin env for None."""
        self._set_code_env("python", code_env_name)

    def set_r_code_env(self, code_env_name: str | None) -> None:
        """Make the project's R code run in that code env, or in the builtin env for None."""
        self._set_code_env("r", code_env_name)

    def save(self) -> None:
        """Write the settings back."""
        self.client._perform_empty(
            "PUT", f"/projects/{path_segment(self.project_key)}/settings", body=self.settings
        )


class DSSProject(SQLNotebookProjectMethods, JupyterNotebookProjectMethods):
    """A project, by key. Getting the handle sends nothing; each method is one call."""

    def __init__(self, client: Requester, project_key: str) -> None:
        self.client = client
        self.project_key = project_key

    def _path(self, suffix: str = "") -> str:
        return f"/projects/{path_segment(self.project_key)}{suffix}"

    def get_summary(self) -> dict[str, Any]:
        """A read-only summary of the project, with at least `projectKey`."""
        return self.client._perform_json("GET", self._path())

    def get_metadata(self) -> dict[str, Any]:
        """Label, description, tags, checklists and custom fields."""
        return self.client._perform_json("GET", self._path("/metadata"))

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace the metadata with a changed copy of `get_metadata()`."""
        self.client._perform_empty("PUT", self._path("/metadata"), body=metadata)

    def get_settings(self) -> DSSProjectSettings:
        """The project's settings (permissions excluded), to change and `save()`."""
        return DSSProjectSettings(
            self.client, self.project_key, self.client._perform_json("GET", self._path("/settings"))
        )

    def get_permissions(self) -> dict[str, Any]:
        """The owner and the per-group permissions."""
        return self.client._perform_json("GET", self._path("/permissions"))

    def set_permissions(self, permissions: dict[str, Any]) -> None:
        """Replace the permissions with a changed copy of `get_permissions()`."""
        self.client._perform_empty("PUT", self._path("/permissions"), body=permissions)

    def get_variables(self) -> dict[str, Any]:
        """The project variables: `{"standard": {...}, "local": {...}}`."""
        return self.client._perform_json("GET", self._path("/variables/"))

    def set_variables(self, obj: dict[str, Any]) -> None:
        """Replace the project variables; `obj` needs both `standard` and `local`."""
        for part in ("standard", "local"):
            if part not in obj:
                raise ValueError(f"Missing '{part}' key in argument")
        self.client._perform_empty("PUT", self._path("/variables/"), body=obj)

    def update_variables(self, variables: dict[str, Any], type: str = "standard") -> None:
        """Set some variables of one kind (`standard` or `local`), keeping the others."""
        current = self.get_variables()
        current[type].update(variables)
        self.set_variables(current)

    def delete(
        self,
        clear_managed_datasets: bool = False,
        clear_output_managed_folders: bool = False,
        clear_job_and_scenario_logs: bool = True,
        clear_managed_knowledge_banks: bool = False,
        **kwargs: Any,
    ) -> DSSFuture:
        """Delete the project (admin or project admin).

        `wait=False` returns at once with a future tracking the deletion; by default the
        call waits and the returned future already holds the result. `drop_data=True` is an
        older spelling of `clear_managed_datasets=True`.
        """
        unknown = set(kwargs) - {"wait", "drop_data"}
        if unknown:
            raise TypeError(f"delete() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        if kwargs.get("drop_data"):
            clear_managed_datasets = True
        answer = self.client._perform_json(
            "DELETE",
            self._path(),
            params={
                "clearManagedDatasets": clear_managed_datasets,
                "clearOutputManagedFolders": clear_output_managed_folders,
                "clearJobAndScenarioLogs": clear_job_and_scenario_logs,
                "clearManagedKnowledgeBanks": clear_managed_knowledge_banks,
                "wait": bool(kwargs.get("wait", True)),
            },
        )
        return DSSFuture.from_resp(self.client, answer or {"hasResult": True, "result": None})

    def list_datasets(
        self, as_type: str = "listitems", include_shared: bool = False, tags: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The project's datasets, as dicts (each with `projectKey`, `name`, `type`, ...)."""
        _check_listitems(as_type, "datasets")
        return self.client._perform_json(
            "GET", self._path("/datasets/"), params={"foreign": include_shared, "tags": list(tags or [])}
        )

    def list_recipes(self, as_type: str = "listitems") -> list[dict[str, Any]]:
        """The project's recipes, as dicts (each with `name`, `type`, `params`, ...)."""
        _check_listitems(as_type, "recipes")
        return self.client._perform_json("GET", self._path("/recipes/"))

    def list_scenarios(self, as_type: str = "listitems") -> list[dict[str, Any]]:
        """The project's scenarios, as dicts (each with `id`, `name`, ...)."""
        _check_listitems(as_type, "scenarios")
        return self.client._perform_json("GET", self._path("/scenarios/"))


class ProjectMethods(Requester):
    """DSSClient methods for projects."""

    def list_project_keys(self) -> list[str]:
        """The keys of the projects the caller may read."""
        return [project["projectKey"] for project in self._perform_json("GET", "/projects/")]

    def list_projects(self, include_location: bool = False) -> list[dict[str, Any]]:
        """The projects the caller may read, as dicts with at least `projectKey`."""
        return self._perform_json("GET", "/projects/", params={"includeLocation": include_location})

    def get_project(self, project_key: str) -> DSSProject:
        """A handle on a project (sends nothing: a missing project fails on first use)."""
        return DSSProject(self, project_key)

    def create_project(
        self,
        project_key: str,
        name: str,
        owner: str,
        description: str | None = None,
        settings: dict[str, Any] | None = None,
        project_folder_id: str | None = None,
        permissions: list[dict[str, Any]] | None = None,
        tags: list[str] | None = None,
    ) -> DSSProject:
        """Create a project and return its handle (needs admin or the right to create projects)."""
        self._perform_empty(
            "POST",
            "/projects/",
            params={"projectFolderId": project_folder_id},
            body={
                "projectKey": project_key,
                "name": name,
                "owner": owner,
                "settings": settings,
                "description": description,
                "permissions": list(permissions or []),
                "tags": list(tags or []),
            },
        )
        return DSSProject(self, project_key)
