"""The interpreter of the built-in Python kernel.

`--kernel-python` (`LABKEEPER_KERNEL_PYTHON`) names it. By default it is labkeeper's own
interpreter, which has ipykernel. When labkeeper runs as root, kernels run as unprivileged
accounts (`labkeeper-kernel`, or users' own), and labkeeper's interpreter may be out of
their reach: a Python under `/root/.pyenv`, say. labkeeper then makes
`<data dir>/run/kernel-runtime`, a virtual environment of a Python of the same version that
every account may execute, which sees labkeeper's own installed packages through a `.pth`
file: the same code a kernel of a non-root labkeeper runs, from an interpreter its account
can start. Those packages hold no secret. When no such Python exists, or labkeeper's
packages are themselves out of reach, the built-in kernel stays on labkeeper's own
interpreter, and starting it is the 409 that names the folder in the way.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from uv import find_uv_bin

from labkeeper.codeenvs import interpreters
from labkeeper.isolation.identity import OTHERS, first_denied
from labkeeper.isolation.layout import TRAVERSE_ONLY, RunTree

RUNTIME = "kernel-runtime"
PTH_NAME = "labkeeper-server-packages.pth"
MARKER = ".labkeeper-runtime"


def builtin_python(data_dir: Path, configured: str | None) -> str:
    """The interpreter the built-in kernel runs (see the module docstring)."""
    if configured:
        return configured
    own = sys.executable
    if os.geteuid() != 0 or first_denied(own, OTHERS) is None:
        return own
    packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    if any(first_denied(folder, OTHERS) is not None for folder in packages):
        return own
    shared = interpreters.available().get(f"PYTHON3{sys.version_info.minor}")
    if shared is None or first_denied(shared.path, OTHERS) is not None:
        return own
    return str(_ensure_runtime(RunTree(data_dir).root / RUNTIME, shared.path, packages))


def _ensure_runtime(folder: Path, interpreter: str, packages: list[str]) -> Path:
    folder.parent.mkdir(mode=TRAVERSE_ONLY, parents=True, exist_ok=True)
    with open(folder.parent / f".{RUNTIME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # workers starting at once make it once
        return _make_runtime(folder, interpreter, packages)


def _make_runtime(folder: Path, interpreter: str, packages: list[str]) -> Path:
    python = folder / "bin" / "python"
    wanted = "\n".join([interpreter, *packages])
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
    minor = f"python3.{sys.version_info.minor}"
    site = partial / "lib" / minor / "site-packages"
    (site / PTH_NAME).write_text("".join(f"{folder_}\n" for folder_ in packages))
    (partial / MARKER).write_text(wanted)
    for root, dirs, files in os.walk(partial):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
    os.chmod(partial, 0o755)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    # The venv's bin/python points at `interpreter`: it must not point elsewhere now.
    if os.path.realpath(python) != os.path.realpath(interpreter):
        raise RuntimeError(f"{python} does not run {interpreter}")
    return python
