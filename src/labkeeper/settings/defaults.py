"""The general settings document of a fresh instance. Each section is documented in the
README ("General settings reference"); keys labkeeper does not know are kept as sent."""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_GENERAL_SETTINGS: dict[str, Any] = {
    "impersonation": {
        # When enabled and labkeeper runs as root, user code runs as the resolved UNIX user.
        "enabled": False,
        "userRules": [],
        "groupRules": [],
        # Targets that no rule may map onto, besides root and accounts below minTargetUid.
        "denyTargets": ["root"],
        "minTargetUid": 1000,
    },
    "codeEnvs": {
        "defaultPythonEnv": None,
        "defaultREnv": None,
        # Installed when an env asks for installCorePackages.
        "corePackages": ["pandas", "numpy", "requests"],
        # Installed when an env asks for Jupyter support.
        "jupyterSupportPackages": ["ipykernel", "httpx"],
        "packageIndex": {"indexUrl": None, "extraIndexUrls": [], "findLinks": [], "offline": False},
        # Spec lines starting with '-' (--index-url, -r, -e ...) are refused unless true.
        "allowPipOptionsInSpec": False,
        # Direct references (name @ url, file paths, VCS URLs, -e) are refused unless true.
        "allowDirectReferences": False,
        "maxConcurrentBuilds": 2,
    },
    "notebooks": {
        "idleKernelTimeoutSeconds": 3600,
        "maxSessionsPerUser": 5,
        # JupyterLab's terminals (as the user's UNIX account, like kernels): off unless true.
        "terminalsEnabled": False,
        # A notebook run streams outputs to disk and keeps at most this much (JSON bytes),
        # per run and per cell; past it the output is dropped and marked truncated.
        "maxRunOutputBytes": 50_000_000,
        "maxCellOutputBytes": 10_000_000,
    },
    "sqlNotebooks": {
        "maxRowsKept": 1000,
        # Bytes of cell data (as JSON) a run keeps; the fetch stops there.
        "maxBytesKept": 10_000_000,
    },
    "futures": {
        "retentionHours": 168,
    },
    "apiKeys": {
        # 0: no limit. Otherwise new keys may not live longer than this.
        "maxLifetimeDays": 0,
    },
}


def default_general_settings() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_GENERAL_SETTINGS)


def with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """Fill sections and keys missing from a stored document, keeping everything it has."""
    merged = default_general_settings()
    for key, value in stored.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged
