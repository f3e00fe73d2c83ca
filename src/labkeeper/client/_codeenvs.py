"""Code envs: `DSSCodeEnv` (a lazy handle), its settings (`DSSDesignCodeEnvSettings`) and the
`DSSClient` methods that list, create and find envs (`CodeEnvMethods`).

Calls that build (create, `update_packages`, `set_jupyter_support`, `delete`) wait by
default and return the server's operation report (`{anyMessage, success, warning, error,
fatal, messages}`); a report with an error raises `CodeEnvOperationError`. With
`wait=False` they return a `DSSFuture` at once.
"""

from __future__ import annotations

from typing import Any

from labkeeper.client._exceptions import DataikuException
from labkeeper.client._futures import DSSFuture
from labkeeper.client._http import Requester, path_segment


class CodeEnvOperationError(DataikuException):
    """A code env build or deletion ended with errors; `report` holds the server's report."""

    def __init__(self, action: str, report: dict[str, Any]) -> None:
        messages = (report.get("messages") or {}).get("messages") or []
        text = "; ".join(
            str(m.get("message", "")) for m in messages if m.get("severity") in ("ERROR", "FATAL")
        )
        super().__init__(f"{action} failed: {text or 'no message'}", error_type="CodeEnvOperationError")
        self.report = report


def _checked(client: Requester, answer: Any, action: str, wait: bool) -> Any:
    if answer is None:
        raise DataikuException(f"{action} returned no data")
    if (answer.get("messages") or {}).get("error", False):
        raise CodeEnvOperationError(action, answer)
    if not wait:
        return DSSFuture.from_resp(client, answer)
    return answer


class DSSCodeEnv:
    """A code env, by language (`PYTHON`, `R`) and name. Making one sends nothing."""

    def __init__(self, client: Requester, env_lang: str, env_name: str) -> None:
        self.client = client
        self.env_lang = env_lang
        self.env_name = env_name

    def _path(self, suffix: str = "") -> str:
        return f"/admin/code-envs/{path_segment(self.env_lang)}/{path_segment(self.env_name)}{suffix}"

    def delete(self, wait: bool = True, force: bool = False) -> Any:
        """Delete the env, its folder (managed envs), kernelspec and logs. An env still used
        by projects, recipes or notebooks is refused (409, listing them) unless `force`
        (labkeeper addition). Returns the report, or a `DSSFuture` if not `wait`."""
        answer = self.client._perform_json(
            "DELETE", self._path(), params={"wait": wait, "force": True if force else None}
        )
        return _checked(self.client, answer, "Env deletion", wait)

    def get_definition(self) -> dict[str, Any]:
        """The env's definition (raw settings), including `path`, `state` and `actualPackageList`."""
        return self.client._perform_json("GET", self._path())

    def set_definition(self, env: dict[str, Any]) -> dict[str, Any]:
        """Save a definition read with `get_definition` (prefer `get_settings().save()`)."""
        return self.client._perform_json("PUT", self._path(), body=env)

    def get_settings(self) -> DSSDesignCodeEnvSettings:
        """The env's settings; change them, then `save()`."""
        return DSSDesignCodeEnvSettings(self, self.client._perform_json("GET", self._path()))

    def set_jupyter_support(self, active: bool, wait: bool = True) -> Any:
        """Install ipykernel (the `codeEnvs.jupyterSupportPackages`) and register the env's
        Jupyter kernelspec, or unregister it (`active=False`)."""
        answer = self.client._perform_json(
            "POST", self._path("/jupyter"), params={"active": active, "wait": wait}
        )
        return _checked(self.client, answer, "Env update", wait)

    def update_packages(
        self, force_rebuild_env: bool = False, version: str | None = None, wait: bool = True
    ) -> Any:
        """Make the env match its spec (`force_rebuild_env`: rebuild it from scratch).
        `version` exists for compatibility (versioned envs do not exist in labkeeper)."""
        answer = self.client._perform_json(
            "POST",
            self._path("/packages"),
            params={"forceRebuildEnv": force_rebuild_env, "versionToUpdate": version, "wait": wait},
        )
        return _checked(self.client, answer, "Env update", wait)

    def list_usages(self) -> list[dict[str, Any]]:
        """Where the env is used: dicts with `envUsage`, `projectKey`, `objectType`, `objectId`."""
        return self.client._perform_json("GET", self._path("/usages"))

    def list_logs(self) -> list[dict[str, Any]]:
        """The env's build logs, newest first: dicts with `name`, `size`, `lastModified`."""
        return self.client._perform_json("GET", self._path("/logs"))

    def get_log(self, log_name: str) -> str:
        """The complete output of one build."""
        return self.client._perform_text("GET", self._path(f"/logs/{path_segment(log_name)}"))

    def __repr__(self) -> str:
        return f"DSSCodeEnv({self.env_lang!r}, {self.env_name!r})"


class DSSDesignCodeEnvSettings:
    """A code env's settings: `settings` is the raw dict (`desc`, `specPackageList`,
    `permissions`, `usableByAll`, ...); `save()` writes it back."""

    def __init__(self, codeenv: DSSCodeEnv, settings: dict[str, Any]) -> None:
        self.codeenv = codeenv
        self.settings = settings

    @property
    def env_lang(self) -> str:
        return self.codeenv.env_lang

    @property
    def env_name(self) -> str:
        return self.codeenv.env_name

    def get_raw(self) -> dict[str, Any]:
        return self.settings

    def get_required_packages(self, as_list: bool = False) -> str | list[str]:
        """The spec: one requirement a line (a string, or a list with `as_list`)."""
        spec = self.settings.get("specPackageList", "")
        return spec.split("\n") if as_list else spec

    def set_required_packages(self, *packages: str) -> None:
        """Replace the spec by these requirements (`"pandas>=2"`, ...)."""
        self.settings["specPackageList"] = "\n".join(packages)

    def get_required_conda_spec(self, as_list: bool = False) -> str | list[str]:
        spec = self.settings.get("specCondaEnvironment", "")
        return spec.split("\n") if as_list else spec

    def set_required_conda_spec(self, *spec: str) -> None:
        """Stored only: labkeeper builds no conda envs."""
        self.settings["specCondaEnvironment"] = "\n".join(spec)

    def save(self) -> None:
        self.codeenv.client._perform_json("PUT", self.codeenv._path(), body=self.settings)


class CodeEnvMethods(Requester):
    """`DSSClient` methods for code envs."""

    def list_code_envs(self, as_objects: bool = False) -> list[Any]:
        """The envs the caller may use: dicts (`envLang`, `envName`, `deploymentMode`,
        `state`, ...) or `DSSCodeEnv` handles."""
        items = self._perform_json("GET", "/admin/code-envs/")
        if as_objects:
            return [DSSCodeEnv(self, item["envLang"], item["envName"]) for item in items]
        return items

    def get_code_env(self, env_lang: str, env_name: str) -> DSSCodeEnv:
        return DSSCodeEnv(self, env_lang, env_name)

    def create_code_env(
        self,
        env_lang: str,
        env_name: str,
        deployment_mode: str,
        params: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> Any:
        """Create an env: `DESIGN_MANAGED` (labkeeper builds it; params `pythonInterpreter`
        such as `PYTHON311`, `installCorePackages`, `installJupyterSupport`, and labkeeper's
        `specPackageList`) or `DESIGN_NON_MANAGED` (params `path` of an existing env).
        Returns a `DSSCodeEnv`, or a `DSSFuture` if not `wait`."""
        body = dict(params or {})
        body["deploymentMode"] = deployment_mode
        answer = self._perform_json(
            "POST",
            f"/admin/code-envs/{path_segment(env_lang)}/{path_segment(env_name)}",
            params={"wait": wait},
            body=body,
        )
        result = _checked(self, answer, "Env creation", wait)
        return result if not wait else DSSCodeEnv(self, env_lang, env_name)

    def list_code_env_usages(self) -> list[dict[str, Any]]:
        """Every usage of every env (needs `mayManageCodeEnvs`)."""
        return self._perform_json("GET", "/admin/code-envs/usages")
