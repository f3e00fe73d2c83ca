"""The Python interpreters this machine offers to code envs, found once per process.

`pythonInterpreter` values PYTHON39 … PYTHON313 map onto real interpreter binaries: the
newest patch release under pyenv's versions folder, then /usr/local/bin and /usr/bin, then
what `uv python find` knows. Shims (pyenv's `python3.X` wrappers) are never used: they cost a
start-up detour and may answer for another version. Each candidate is run once to check it
works and to read its exact version.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin

from labkeeper.errors import BadRequest

INTERPRETER_CODES = ("PYTHON39", "PYTHON310", "PYTHON311", "PYTHON312", "PYTHON313")
_VERSION_CHECK = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


@dataclass(frozen=True)
class Interpreter:
    code: str  # PYTHON311
    path: str  # the real binary, symlinks resolved
    version: str  # 3.11.7


def _minor(code: str) -> str:
    return f"3.{code.removeprefix('PYTHON3')}"


def _patch_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.]", folder.name))


def _pyenv_roots() -> list[Path]:
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv", "/opt/pyenv"]
    seen: list[Path] = []
    for root in roots:
        if root and Path(root).is_dir() and Path(root) not in seen:
            seen.append(Path(root))
    return seen


def _candidates(minor: str) -> list[str]:
    found: list[str] = []
    for root in _pyenv_roots():
        versions = sorted(
            (v for v in (root / "versions").glob(f"{minor}.*") if re.fullmatch(rf"{minor}\.\d+", v.name)),
            key=_patch_key,
            reverse=True,
        )
        found += [str(v / "bin" / f"python{minor}") for v in versions]
    found += [f"/usr/local/bin/python{minor}", f"/usr/bin/python{minor}"]
    return found


def _check(path: str, minor: str) -> str | None:
    """The interpreter's version if `path` runs and is the wanted minor version."""
    if not os.access(path, os.X_OK) or "/shims/" in path:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [path, "-S", "-c", _VERSION_CHECK], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    if done.returncode != 0 or not version.startswith(minor + "."):
        return None
    return version


def _uv_find(minor: str) -> str | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    # Leave pyenv's shims out of uv's search: they fail for versions not selected globally.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/shims" not in p)
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [find_uv_bin(), "python", "find", "--no-config", "--no-python-downloads", minor],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip()
    return path if done.returncode == 0 and path else None


def _blocked(path: str) -> bool:
    """When labkeeper runs as root, builds run as an unprivileged account: whether that
    account cannot execute `path` (e.g. a Python under /root, refused at build)."""
    if os.geteuid() != 0:
        return False
    from labkeeper.codeenvs.sandbox import blocked_for_builds

    return blocked_for_builds(os.path.realpath(path)) is not None


def _shared_first(paths: list[str]) -> list[str]:
    """Interpreters every account may execute come first (see `_blocked`)."""
    return sorted(paths, key=_blocked)


def discover() -> dict[str, Interpreter]:
    found: dict[str, Interpreter] = {}
    for code in INTERPRETER_CODES:
        minor = _minor(code)
        for path in [*_shared_first(_candidates(minor)), None]:
            candidate = path if path is not None else _uv_find(minor)
            if candidate is None:
                continue
            real = os.path.realpath(candidate)
            version = _check(real, minor)
            if version is not None:
                found[code] = Interpreter(code=code, path=real, version=version)
                break
    return found


_lock = threading.Lock()
_cache: dict[str, Interpreter] | None = None


def available(*, refresh: bool = False) -> dict[str, Interpreter]:
    """The interpreters found on this machine (discovered on first use, then cached)."""
    global _cache
    with _lock:
        if _cache is None or refresh:
            _cache = discover()
        return dict(_cache)


def default_code() -> str:
    """The server's own Python version when present, else the newest one present; among
    those builds can use first (as root, a Python only root can reach comes last)."""
    present = available()
    if not present:
        raise BadRequest("No Python interpreter (3.9 to 3.13) was found on this machine")
    usable = [code for code, found in present.items() if not _blocked(found.path)] or list(present)
    own = f"PYTHON3{sys.version_info.minor}"
    if own in usable:
        return own
    return max(usable, key=lambda code: int(code.removeprefix("PYTHON3")))


def resolve(code: object) -> Interpreter:
    """The interpreter for a `pythonInterpreter` value, or a 400 listing those present."""
    present = available()
    names = ", ".join(sorted(present, key=lambda c: int(c.removeprefix("PYTHON3")))) or "none"
    if code not in INTERPRETER_CODES:
        raise BadRequest(
            f"Unknown pythonInterpreter {code!r}: use one of the interpreters present on this "
            f"machine: {names}"
        )
    if code not in present:
        raise BadRequest(
            f"pythonInterpreter {code} is not installed on this machine; interpreters present: {names}"
        )
    return present[str(code)]
