"""Code env fixtures: a session wheelhouse and instances whose builds install only from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.codeenvs.wheelhouse import build


@pytest.fixture(scope="session")
def wheelhouse(request: pytest.FixtureRequest) -> Path:
    return build(Path(request.config.cache.mkdir("labkeeper-wheelhouse")))


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
