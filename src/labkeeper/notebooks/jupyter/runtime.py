"""The interpreter of the built-in Python kernel.

`--kernel-python` (`LABKEEPER_KERNEL_PYTHON`) names it. By default it is labkeeper's own
interpreter, which has ipykernel. When labkeeper runs as root, kernels run as unprivileged
accounts (`labkeeper-kernel`, or users' own), and labkeeper's interpreter may be out of
their reach: a Python under `/root/.pyenv`, say. labkeeper then makes
`<data dir>/run/kernel-runtime`, a virtual environment of a Python of the same version that
every account may execute, holding the very distributions labkeeper runs kernels with
(ipykernel, httpx and what they require, at the versions labkeeper has), linked or copied
from labkeeper's own environment: the same code a kernel of a non-root labkeeper runs, from
an interpreter its account can start. When no such Python exists, the built-in kernel stays
on labkeeper's own interpreter, and starting it is the 409 that names the folder in the way.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from uv import find_uv_bin

from labkeeper.codeenvs import interpreters
from labkeeper.isolation.identity import OTHERS, first_denied
from labkeeper.isolation.layout import TRAVERSE_ONLY, RunTree

RUNTIME = "kernel-runtime"
# What the built-in kernel imports besides the standard library (kernel-lib's client uses httpx).
KERNEL_DISTRIBUTIONS = ("ipykernel", "httpx")
MARKER = ".labkeeper-runtime"


def builtin_python(data_dir: Path, configured: str | None) -> str:
    """The interpreter the built-in kernel runs (see the module docstring)."""
    if configured:
        return configured
    own = sys.executable
    if os.geteuid() != 0 or first_denied(own, OTHERS) is None:
        return own
    shared = interpreters.available().get(f"PYTHON3{sys.version_info.minor}")
    if shared is None or first_denied(shared.path, OTHERS) is not None:
        return own
    folder = RunTree(data_dir).root / RUNTIME
    folder.parent.mkdir(mode=TRAVERSE_ONLY, parents=True, exist_ok=True)
    with open(folder.parent / f".{RUNTIME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # workers starting at once make it once
        return str(_runtime(folder, shared.path, _closure(KERNEL_DISTRIBUTIONS)))


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions `names` need (markers evaluated, no extras)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            found[name] = dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this platform does not install
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return [found[name] for name in sorted(found)]


def _runtime(folder: Path, interpreter: str, dists: list[metadata.Distribution]) -> Path:
    python = folder / "bin" / "python"
    wanted = "\n".join([interpreter, *(f"{d.metadata['Name']}=={d.version}" for d in dists)])
    marker = folder / MARKER
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    partial = folder.with_name(f".{RUNTIME}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(  # noqa: S603 - fixed argv
        [
            find_uv_bin(),
            "venv",
            "--no-config",
            "--no-python-downloads",
            "--quiet",
            "--python",
            interpreter,
            str(partial),
        ],
        check=True,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "UV_NO_CONFIG": "1"},
    )
    site = partial / "lib" / f"python3.{sys.version_info.minor}" / "site-packages"
    for dist in dists:
        for entry in dist.files or []:
            if ".." in entry.parts:
                continue  # scripts and data outside site-packages: a kernel needs none
            source, target = Path(str(dist.locate_file(entry))), site / entry
            if not source.is_file():
                continue
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            try:
                os.link(source, target)  # the same inode: nothing copied, its mode is 0644 already
            except OSError:
                shutil.copy2(source, target)
    (partial / MARKER).write_text(wanted)
    for root, dirs, _files in os.walk(partial):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    os.chmod(partial, 0o755)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return python
