"""Jupyter kernelspecs of code envs, in the folder the notebooks domain reads.

Contract with the notebooks domain: one folder per env,
`<data_dir>/jupyter/kernels/py-dku-venv-<env name>/kernel.json`, holding
`{"argv": [<env python>, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
"display_name": ..., "language": "python", "metadata": {"labkeeper": {"codeEnv": <name>}}}`.
The env's `bin/python` is used as is (not resolved): through it the interpreter runs inside
the env.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from labkeeper.errors import BadRequest

KERNEL_PREFIX = "py-dku-venv-"
# What Jupyter accepts as a kernel name; env names may also hold spaces, which it ignores.
_JUPYTER_KERNEL_NAME = re.compile(r"[A-Za-z0-9._-]+")


def kernels_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "jupyter" / "kernels"


def kernel_name(env_name: str) -> str:
    return KERNEL_PREFIX + env_name


def check_kernel_name(env_name: str) -> None:
    """Jupyter support needs a kernel name Jupyter accepts: a 400 says so otherwise."""
    if not _JUPYTER_KERNEL_NAME.fullmatch(env_name):
        raise BadRequest(
            f"Code env {env_name!r} cannot have Jupyter support: Jupyter kernel names allow only "
            "letters, digits, '.', '_' and '-'; create an env without spaces in its name"
        )


def kernel_dir(data_dir: Path, env_name: str) -> Path:
    return kernels_dir(data_dir) / kernel_name(env_name)


def kernel_spec(env_name: str, env_python: str) -> dict[str, Any]:
    return {
        "argv": [env_python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python (env {env_name})",
        "language": "python",
        "metadata": {"labkeeper": {"codeEnv": env_name}},
    }


def install(data_dir: Path, env_name: str, env_python: str) -> Path:
    """Write the kernelspec atomically (a reader never sees half a file)."""
    folder = kernel_dir(data_dir, env_name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "kernel.json"
    partial = folder / ".kernel.json.partial"
    partial.write_text(json.dumps(kernel_spec(env_name, env_python), indent=1))
    os.replace(partial, target)
    return target


def remove(data_dir: Path, env_name: str) -> bool:
    folder = kernel_dir(data_dir, env_name)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def is_installed(data_dir: Path, env_name: str) -> bool:
    return (kernel_dir(data_dir, env_name) / "kernel.json").is_file()
