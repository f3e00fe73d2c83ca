"""Code env fixtures: a session wheelhouse and instances whose builds install only from it."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.codeenvs.wheelhouse import build


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Downloaded once per checkout, into a folder every account may read: run as root,
    builds run as an unprivileged account, whatever folder the checkout is in."""
    checkout = hashlib.sha256(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:10]
    dest = Path(tempfile.gettempdir()) / f"labkeeper-test-wheelhouse-{checkout}"
    with open(f"{dest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build(dest)
        subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    return dest


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
