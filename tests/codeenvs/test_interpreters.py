"""Which interpreter a code env gets when its definition names none."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkeeper.codeenvs import interpreters
from labkeeper.codeenvs.interpreters import Interpreter
from labkeeper.codeenvs.sandbox import can_switch_accounts


@pytest.fixture
def offered() -> Iterator[dict[str, Interpreter]]:
    """Replace what discovery found by the interpreters a test sets; restore it after."""
    saved = interpreters._cache
    interpreters._cache = {}
    try:
        yield interpreters._cache
    finally:
        interpreters._cache = saved


def test_the_servers_own_version_is_the_default(offered: dict[str, Interpreter]) -> None:
    own = f"PYTHON3{sys.version_info.minor}"
    other = "PYTHON39" if own != "PYTHON39" else "PYTHON310"
    offered[other] = Interpreter(other, sys.executable, "3.9.0")
    offered[own] = Interpreter(own, sys.executable, "3.x")
    assert interpreters.default_code() == own


def test_as_root_a_python_only_root_can_reach_is_not_the_default(
    offered: dict[str, Interpreter], tmp_path: Path
) -> None:
    """A server running as root on a Python under a private folder (pyenv in /root, say):
    builds run as an unprivileged account, so the default is an interpreter it can run."""
    if not can_switch_accounts():
        pytest.skip("only root builds as another account")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    hidden = private / "python3"
    shutil.copy(sys.executable, hidden)
    shared = shutil.which("python3.11", path="/usr/bin:/usr/local/bin") or "/usr/bin/python3"
    if interpreters._blocked(shared):
        pytest.skip(f"{shared} is not reachable by other accounts on this machine")
    own = f"PYTHON3{sys.version_info.minor}"
    other = "PYTHON39" if own != "PYTHON39" else "PYTHON310"
    offered[own] = Interpreter(own, str(hidden), "3.x")
    offered[other] = Interpreter(other, shared, "3.y")
    assert interpreters._blocked(str(hidden))
    assert interpreters.default_code() == other
    del offered[other]  # nothing else: the own version still answers (refused later, clearly)
    assert interpreters.default_code() == own
