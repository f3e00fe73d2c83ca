"""Kernelspecs, the kernel manager classes, and what a kernel process is given.

Kernelspecs come from two folders, read by jupyter_client's KernelSpecManager (first wins):
`data_dir/jupyter/builtin-kernels/python3` (labkeeper's built-in kernel: the server's own
interpreter, which has ipykernel) and `data_dir/jupyter/kernels/` (one per code env with
Jupyter support, written by the code-env domain). No other folder is searched, so kernels
installed elsewhere on the machine never appear.

`LabkeeperKernelManager` is jupyter_client's AsyncIOLoopKernelManager, launching the kernel as a
given UNIX identity (Popen user/group/extra_groups), handing it its connection file, and
talking to it over IPC sockets in a folder only that identity (and root) can open.
`LabkeeperMultiKernelManager` is the AsyncMultiKernelManager holding them; a Jupyter
server's kernel manager is a subclass of the same class, which is how JupyterLab can be
served over these very kernels later.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_client.ioloop.manager import AsyncIOLoopKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.multikernelmanager import AsyncMultiKernelManager
from traitlets import Bool, DottedObjectName

from labkeeper.errors import BadRequest
from labkeeper.isolation.identity import UnixIdentity
from labkeeper.server.answers import files_stamp, path_stat

BUILTIN_KERNEL = "python3"
CODEENV_KERNEL_PREFIX = "py-dku-venv-"  # as codeenvs/kernelspecs.py writes them
# Unix socket paths are limited to 108 bytes (the prefix gets "-<port>" appended). A longer
# prefix is refused: kernels are never reached over TCP, which any local account may connect to.
MAX_IPC_PREFIX = 96
PASSED_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONDONTWRITEBYTECODE")
PASSED_THROUGH_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_")


class KernelSpecs:
    def __init__(self, data_dir: Path, builtin_python: str | None = None) -> None:
        self.builtin_python = builtin_python or sys.executable
        self.builtin_dir = Path(data_dir) / "jupyter" / "builtin-kernels"
        self.codeenv_dir = Path(data_dir) / "jupyter" / "kernels"
        self.manager = KernelSpecManager(
            kernel_dirs=[str(self.builtin_dir), str(self.codeenv_dir)], ensure_native_kernel=False
        )

    def install_builtin(self) -> None:
        folder = self.builtin_dir / BUILTIN_KERNEL
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        spec = {
            "argv": [self.builtin_python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (labkeeper)",
            "language": "python",
            "interrupt_mode": "signal",
            "metadata": {"labkeeper": {"builtin": True}, "debugger": True},
        }
        target = folder / "kernel.json"
        partial = folder / ".kernel.json.partial"
        partial.write_text(json.dumps(spec, indent=1))
        os.replace(partial, target)

    def get(self, name: str) -> KernelSpec:
        try:
            return self.manager.get_kernel_spec(name)
        except NoSuchKernel:
            available = ", ".join(sorted(self.manager.find_kernel_specs())) or "none"
            raise BadRequest(
                f"No kernel named {name!r} is installed (metadata.kernelspec.name of the notebook)",
                detail=f"The notebook asks for kernel {name!r}, which is not installed. Available kernels: "
                f"{available}. Change the notebook's metadata.kernelspec.name, or create a code env with "
                "Jupyter support",
            ) from None

    def all(self) -> dict[str, dict[str, Any]]:
        return {name: {"name": name, **spec["spec"]} for name, spec in self.manager.get_all_specs().items()}

    def env_of_dir(self, resource_dir: str, metadata: dict[str, Any] | None) -> str | None:
        """The code env a kernelspec folder belongs to (None: the built-in kernel).

        Decided by where jupyter_client found the spec, not by the name a notebook spelled
        (kernel names are matched case-insensitively): every spec in the code-env folder is
        an env's, named by its metadata (written by labkeeper) or its folder."""
        folder = Path(os.path.abspath(resource_dir))
        if folder.parent != Path(os.path.abspath(self.codeenv_dir)):
            return None
        named = ((metadata or {}).get("labkeeper") or {}).get("codeEnv")
        if isinstance(named, str) and named:
            return named
        return (
            folder.name[len(CODEENV_KERNEL_PREFIX) :]
            if folder.name.startswith(CODEENV_KERNEL_PREFIX)
            else folder.name
        )

    def code_env_of(self, name: str) -> str | None:
        """The code env whose kernel `name` selects, or None; a 400 when no such kernel."""
        spec = self.get(name)
        return self.env_of_dir(spec.resource_dir, spec.metadata)

    def specs_stamp(self) -> tuple[Callable[[], Any], Any]:
        """For a kept answer read from the specs (server/answers.py): the stat of both folders,
        of each spec folder in them and of its kernel.json, taken before they are read."""
        now_ns = time.time_ns()
        roots = [str(self.builtin_dir), str(self.codeenv_dir)]
        first = [path_stat(root, now_ns) for root in roots]
        paths = list(roots)
        for root in roots:
            try:
                names = sorted(os.listdir(root))
            except FileNotFoundError:
                continue
            for name in names:
                paths += [os.path.join(root, name), os.path.join(root, name, "kernel.json")]
        rest = files_stamp(paths[len(roots) :])
        value = None if None in first or rest is None else (*first, *rest)
        return (lambda: files_stamp(paths)), value

    def all_with_envs(self) -> list[tuple[str, dict[str, Any], str | None]]:
        found = []
        for name, entry in self.manager.get_all_specs().items():
            spec = entry["spec"]
            found.append(
                (name, {"name": name, **spec}, self.env_of_dir(entry["resource_dir"], spec.get("metadata")))
            )
        return found

    def kernel_envs(self) -> dict[str, str]:
        """Every kernel here, by lower-case name, and its code env ("" for the built-in one)."""
        return {name.lower(): env or "" for name, _spec, env in self.all_with_envs()}

    def interpreters(self) -> list[str]:
        found = []
        for name in self.manager.find_kernel_specs():
            try:
                argv = self.manager.get_kernel_spec(name).argv
            except Exception:  # noqa: BLE001 - a broken spec is reported when used
                continue
            if argv:
                found.append(argv[0])
        return found


class LabkeeperKernelManager(AsyncIOLoopKernelManager):
    """A kernel launched as a chosen UNIX identity, reached over IPC sockets only.

    Its `connect_*` channels are the event-loop streams jupyter_server's websockets use (JupyterLab
    talks to these very kernels). It never restarts by itself: a kernel that dies ends its
    session, which labkeeper's housekeeping notices.

    `start_kernel(run_as=UnixIdentity, ipc_prefix=str|None, log_path=Path|None, **popen_kwargs)`:
    the kernel's stdout and stderr go to `log_path`, opened afresh by each launch (a restart
    launches again, long after the first launch's file was closed). The attributes
    `execution_state` and `last_activity` follow the names a Jupyter server's kernel
    managers use, kept current by labkeeper's IOPub watcher.
    """

    autorestart = Bool(False, help="Never: a kernel that dies ends its session.")
    run_as: UnixIdentity | None = None
    log_path: Path | None = None
    execution_state: str = "starting"
    last_activity: Any = None

    async def _async_pre_start_kernel(self, **kw: Any):  # type: ignore[no-untyped-def]
        run_as: UnixIdentity | None = kw.pop("run_as", None)
        ipc_prefix: str | None = kw.pop("ipc_prefix", None)
        log_path: Path | None = kw.pop("log_path", None)
        if log_path is not None:
            self.log_path = Path(log_path)
        if run_as is not None:
            self.run_as = run_as
            kw.update(run_as.popen_kwargs())
        if not ipc_prefix or len(ipc_prefix) > MAX_IPC_PREFIX:
            raise ValueError(f"kernel IPC prefix {ipc_prefix!r} is missing or too long: TCP is never used")
        self.transport = "ipc"
        self.ip = ipc_prefix
        self.shutdown_wait_time = 1.0
        answer = await super()._async_pre_start_kernel(**kw)
        # A restart starts again from these: the same account, the same private sockets, the
        # same log.
        self._launch_args.update(run_as=self.run_as, ipc_prefix=ipc_prefix, log_path=self.log_path)
        return answer

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.log_path is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        # Appended to: the output of the kernel before a restart stays readable after it.
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "ab") as log_file:  # the kernel keeps its own copy of the descriptor
            await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdout": log_file, "stderr": log_file})

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.run_as is not None and self.run_as.impersonated:
            # Written 0600 by us; the kernel's own account must read it, no other account may.
            os.chown(self.connection_file, self.run_as.uid, self.run_as.gid)


class LabkeeperMultiKernelManager(AsyncMultiKernelManager):
    kernel_manager_class = DottedObjectName(
        "labkeeper.notebooks.jupyter.kernels.LabkeeperKernelManager",
        config=True,
        help="The kernel manager class: labkeeper's, which launches kernels as UNIX users.",
    )


def kernel_env(
    *,
    ident: UnixIdentity,
    interpreter: str,
    home: Path,
    kernel_lib: Path,
    server_url: str,
    api_key: str,
    project_key: str,
    notebook_name: str,
    session_id: str,
    spec_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of a kernel: built from scratch, never the server's own, which
    may hold the database URL or the bootstrap key."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in PASSED_THROUGH or name.startswith(PASSED_THROUGH_PREFIXES)
    }
    path = [os.path.dirname(interpreter), "/usr/local/bin", "/usr/bin", "/bin"]
    env.update(
        {
            "PATH": os.pathsep.join(dict.fromkeys(p for p in path if p)),
            "HOME": str(home),
            "USER": ident.name,
            "LOGNAME": ident.name,
            "SHELL": "/bin/sh",
            "PYTHONPATH": str(kernel_lib),
            "LABKEEPER_URL": server_url,
            "LABKEEPER_API_KEY": api_key,
            "LABKEEPER_PROJECT_KEY": project_key,
            "LABKEEPER_NOTEBOOK_NAME": notebook_name,
            "LABKEEPER_SESSION_ID": session_id,
            "DKU_CURRENT_PROJECT_KEY": project_key,
            "JPY_SESSION_NAME": f"{project_key}/{notebook_name}",
        }
    )
    for name, value in (spec_env or {}).items():
        env[name] = f"{value}{os.pathsep}{kernel_lib}" if name == "PYTHONPATH" else value
    return env


# ---------------------------------------------------------------- the kernel library


def _sources() -> list[tuple[Path, str]]:
    """(source file, path inside kernel-lib) of everything a kernel gets on its path."""
    import labkeeper.client as client_package

    here = Path(__file__).parent / "kernel_path"
    client_dir = Path(client_package.__file__).parent
    found = [(here / "dataiku" / "__init__.py", "dataiku/__init__.py")]
    found += [(here / "labkeeper" / n, f"labkeeper/{n}") for n in ("__init__.py", "_jsoncompat.py")]
    found += [(p, f"labkeeper/client/{p.name}") for p in sorted(client_dir.glob("*.py"))]
    return found


def build_kernel_lib(target: Path) -> None:
    """Copy the client and the `dataiku` module into `target` (world-readable code, no secrets);
    skipped when the copy is already current."""
    sources = _sources()
    digest = hashlib.sha256()
    for source, name in sources:
        digest.update(name.encode() + b"\0" + source.read_bytes() + b"\0")
    stamp = target / ".stamp"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    for source, name in sources:
        destination = partial / name
        destination.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        shutil.copyfile(source, destination)
        os.chmod(destination, 0o644)
    (partial / ".stamp").write_text(digest.hexdigest())
    for folder in [partial, *(p for p in partial.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)
    old = target.with_name(target.name + f".old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(partial, target)
    shutil.rmtree(old, ignore_errors=True)
