"""Request bodies of code envs: creation and settings (values checked by service.py and
spec.py; keys not declared are kept in the env's desc)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from labkeeper.server.params import Document


class CodeEnvCreate(Document):
    deploymentMode: Literal["DESIGN_MANAGED", "DESIGN_NON_MANAGED"] = Field(
        description="DESIGN_MANAGED: labkeeper builds the env; DESIGN_NON_MANAGED: an existing env"
    )
    path: str | None = Field(None, description="DESIGN_NON_MANAGED: the env's folder")
    pythonInterpreter: str | None = Field(None, description="Like PYTHON311")
    specPackageList: str = Field("", description="Requirements, one per line")
    installCorePackages: bool = False
    installJupyterSupport: bool = False
    owner: str | None = None


class CodeEnvSettings(Document):
    desc: dict[str, Any] = Field(default_factory=dict)
    specPackageList: str | None = None
    specCondaEnvironment: str | None = None
    permissions: list[Any] | None = None
    usableByAll: bool | None = None
