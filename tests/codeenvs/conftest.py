"""Code env fixtures: a session wheelhouse and instances whose builds install only from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.codeenvs.wheelhouse import build


@pytest.fixture(scope="session")
def wheelhouse(request: pytest.FixtureRequest) -> Path:
    """Downloaded once: into pytest's cache, or (cache plugin off) the user's cache folder."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return build(Path(cache.mkdir("labkeeper-wheelhouse")))
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return build(base / "labkeeper-tests" / "wheelhouse")


def index_settings(wheelhouse: Path, **code_envs: object) -> dict:
    """General settings `codeEnvs` changes: offline, from the wheelhouse only."""
    return {
        "packageIndex": {
            "indexUrl": None,
            "extraIndexUrls": [],
            "findLinks": [str(wheelhouse)],
            "offline": True,
        },
        "corePackages": ["lkcore"],
        **code_envs,
    }
