"""What an env holds: its installed distributions as `name==version` lines, and whether a
non-managed env's interpreter works."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from pathlib import Path
from typing import Any

_LIST_SCRIPT = (
    "import importlib.metadata as m\n"
    "for d in m.distributions():\n"
    "    n = d.metadata['Name']\n"
    "    if n: print(n + '==' + d.version)\n"
)
_VERSION_SCRIPT = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _format(pairs: set[tuple[str, str]]) -> str:
    lines = sorted({f"{name}=={version}" for name, version in pairs}, key=lambda line: _canonical(line))
    return "\n".join(lines)


def installed_packages(
    env_path: Path, *, in_process: bool = True, run_as: dict[str, Any] | None = None
) -> str:
    """`name==version` lines, sorted. Managed envs are read in-process from their
    site-packages; others through their own interpreter (their layout is theirs), started
    with `run_as` (subprocess keywords: the build account and its environment)."""
    if in_process:
        sites = [str(p) for p in Path(env_path).glob("lib/python3*/site-packages")]
        pairs = {
            (dist.metadata["Name"], dist.version)
            for dist in importlib.metadata.distributions(path=sites)
            if dist.metadata["Name"]
        }
        return _format(pairs)
    python = Path(env_path) / "bin" / "python"
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [str(python), "-s", "-c", _LIST_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **(run_as or {}),
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    pairs = set()
    for line in done.stdout.splitlines():
        name, _, version = line.partition("==")
        if name and version:
            pairs.add((name, version))
    return _format(pairs)


def probe_interpreter(python: Path, *, run_as: dict[str, Any] | None = None) -> tuple[str, str]:
    """(version, "") when `python` runs (started with the subprocess keywords `run_as`),
    else ("", what is wrong)."""
    if not python.exists():
        return "", f"{python} does not exist: a Python env needs bin/python"
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [str(python), "-c", _VERSION_SCRIPT],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            **(run_as or {}),
        )
    except subprocess.TimeoutExpired:
        return "", f"{python} did not answer within 30 s"
    except OSError as exc:
        return "", f"{python} cannot run: {exc.strerror or exc}"
    version = done.stdout.strip()
    if done.returncode != 0 or not re.fullmatch(r"3\.\d+\.\d+", version):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return "", f"{python} is not a working Python 3 interpreter ({detail})"
    return version, ""
