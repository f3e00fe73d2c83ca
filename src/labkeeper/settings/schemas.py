"""The general settings document as a model: types and bounds of every key labkeeper reads.

A PUT is checked against it twice in one way: the body as sent (server/dispatch.py, so a
wrong field is named as the caller wrote it) and the document merged over the defaults
(settings/service.py, the path every writer takes, the console's included). What a type
cannot say (impersonation rules that must resolve, regular expressions that must match in
bounded time, package names and index locations) is checked by settings/validation.py.
Every section keeps the keys labkeeper does not know (DSS round-trips them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from labkeeper.server.params import Document


def _bounded(low: int, high: int, description: str) -> Any:
    return Field(None, ge=low, le=high, description=description)


def _absent(description: str | None = None) -> Any:
    """A key that may be left out (the default applies) but not sent as null."""
    return Field(None, description=description)


Nullable = Annotated[str | None, Field(description="A name, or null")]


class ImpersonationRule(Document):
    type: Literal["IDENTITY", "SINGLE_MAPPING", "REGEXP_RULE"]
    scope: Literal["GLOBAL", "PROJECT"] | None = None
    projectKey: str | None = None
    dssUser: str | None = None
    dssGroup: str | None = None
    ruleFrom: str | None = None
    targetUnix: str | None = None
    targetHadoop: str | None = None


class Impersonation(Document):
    enabled: bool = _absent("User code runs as the resolved UNIX user (labkeeper running as root)")
    userRules: list[ImpersonationRule] = _absent()
    groupRules: list[ImpersonationRule] = _absent()
    denyTargets: list[str] = _absent("Accounts no rule may map onto (root always)")
    minTargetUid: int | None = _bounded(0, 2**32 - 1, "No rule may map onto an account below this uid")


class PackageIndex(Document):
    indexUrl: str | None = None
    extraIndexUrls: list[str] | None = None
    findLinks: list[str] | None = None
    offline: bool | None = None


class CodeEnvsSection(Document):
    defaultPythonEnv: Nullable = None
    defaultREnv: Nullable = None
    corePackages: list[str] | None = None
    jupyterSupportPackages: list[str] | None = None
    packageIndex: PackageIndex = _absent()
    allowPipOptionsInSpec: bool = _absent("Spec lines starting with '-' are refused unless true")
    allowDirectReferences: bool = _absent("Direct references (name @ url, paths, VCS) refused unless true")
    maxConcurrentBuilds: int | None = _bounded(1, 64, "Builds running at once")


class NotebooksSection(Document):
    idleKernelTimeoutSeconds: int | None = _bounded(0, 10**7, "0: kernels are never culled")
    maxSessionsPerUser: int | None = _bounded(1, 10_000, "Kernels a user may hold")
    # The saved notebook must stay under the 64 MiB notebook limit (notebooks/jupyter/files.py).
    maxRunOutputBytes: int | None = _bounded(1024, 60_000_000, "Output kept per run (JSON bytes)")
    maxCellOutputBytes: int | None = _bounded(1024, 60_000_000, "Output kept per cell (JSON bytes)")
    terminalsEnabled: bool = _absent("JupyterLab terminals, as the user's UNIX account, unless false")


class SqlNotebooksSection(Document):
    maxRowsKept: int | None = _bounded(0, 1_000_000, "Rows a run keeps")
    maxBytesKept: int | None = _bounded(0, 1_000_000_000, "Bytes of cell data a run keeps")


class FuturesSection(Document):
    retentionHours: int | None = _bounded(0, 10**6, "How long finished futures are kept")


class ApiKeysSection(Document):
    maxLifetimeDays: int | None = _bounded(0, 10**5, "0: no limit")


class GeneralSettings(Document):
    """PUT /admin/general-settings: the sections sent replace their keys, the others stay."""

    impersonation: Impersonation = _absent()
    codeEnvs: CodeEnvsSection = _absent()
    notebooks: NotebooksSection = _absent()
    sqlNotebooks: SqlNotebooksSection = _absent()
    futures: FuturesSection = _absent()
    apiKeys: ApiKeysSection = _absent()
