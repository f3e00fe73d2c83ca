"""Runtime configuration, built by the CLI or the tests and handed to `create_app`.

Nothing here is read at import time: `Config.from_env()` is called explicitly.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 11200
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    bootstrap_admin_key: str | None = field(default=None, repr=False)
    # The interpreter of the built-in Python kernel (it needs ipykernel); None: the server's own.
    # When labkeeper runs as root, kernels run as an unprivileged account that must be able to
    # execute it: a server interpreter under /root is not, so point this at a shared one.
    kernel_python: str | None = None
    # Background loops (task reaper, idle kernel reaper) can be turned off for unit tests.
    background: bool = True
    # Seconds a stop (SIGTERM/SIGINT) lets requests finish before interrupting what runs.
    graceful_timeout: float = 30.0
    log_format: str = "text"  # or "json": one object per line (server/logs.py)
    access_log: bool = False  # a line per request
    metrics_public: bool = False  # GET /metrics without a key
    # Which TaskRunner runs futures: "in-process" (the default on SQLite) or "procrastinate"
    # (the default on PostgreSQL: jobs queued in the store, picked by any worker node).
    task_runner: str | None = None
    # Whether this process also executes queued tasks (procrastinate runner only): an API node
    # started with --no-worker only queues them, `labkeeper worker` only executes them.
    embedded_worker: bool = True
    # How many tasks this node's procrastinate worker runs at once (heavy builds are bounded
    # apart, by the build slots).
    task_slots: int = 100
    serves_api: bool = True
    # This node's name in the store (GET /admin/nodes); by default the host name.
    node_name: str | None = None
    # This node's labels (--label, repeatable): a project pinned to a label runs its kernels
    # only on nodes carrying it.
    node_labels: tuple[str, ...] = ()
    # The address other machines and kernels use to reach the API (--public-url).
    public_url: str | None = None
    # The instance secret that encrypts connection passwords, shared by every node
    # (connections/secrets.py): a file of keys, or LABKEEPER_SECRET_KEY.
    secret_key_file: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    # Where Jupyter notebooks are kept: "files" (the data dir; the default on SQLite) or
    # "store" (a table every node reads; the default on PostgreSQL).
    notebook_storage: str | None = None

    @property
    def run_dir(self) -> Path:
        """State of the running server that no restart keeps (e.g. multi-process metrics)."""
        return self.data_dir / "run"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'labkeeper.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def effective_task_runner(self) -> str:
        return self.task_runner or ("in-process" if self.is_sqlite else "procrastinate")

    @property
    def effective_notebook_storage(self) -> str:
        return self.notebook_storage or ("files" if self.is_sqlite else "store")

    @property
    def effective_node_name(self) -> str:
        return self.node_name or socket.gethostname()

    @property
    def role(self) -> str:
        """ "api", "worker" or "api+worker", as GET /admin/nodes shows it."""
        executes = self.effective_task_runner == "in-process" or self.embedded_worker
        if self.serves_api:
            return "api+worker" if executes else "api"
        return "worker"

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        """Build a config from LABKEEPER_* variables, with explicit overrides winning."""
        values: dict[str, object] = {
            "data_dir": Path(os.environ.get("LABKEEPER_DATA_DIR", "labkeeper-data")),
            "database_url": os.environ.get("LABKEEPER_DATABASE_URL") or None,
            "bootstrap_admin_key": os.environ.get("LABKEEPER_BOOTSTRAP_ADMIN_KEY") or None,
            "kernel_python": os.environ.get("LABKEEPER_KERNEL_PYTHON") or None,
            "log_format": os.environ.get("LABKEEPER_LOG_FORMAT") or None,
            "access_log": os.environ.get("LABKEEPER_ACCESS_LOG") == "1" or None,
            "metrics_public": os.environ.get("LABKEEPER_METRICS_PUBLIC") == "1" or None,
            "task_runner": os.environ.get("LABKEEPER_TASK_RUNNER") or None,
            "node_name": os.environ.get("LABKEEPER_NODE_NAME") or None,
            "public_url": os.environ.get("LABKEEPER_PUBLIC_URL") or None,
            "secret_key_file": os.environ.get("LABKEEPER_SECRET_KEY_FILE") or None,
            "secret_key": os.environ.get("LABKEEPER_SECRET_KEY") or None,
            "notebook_storage": os.environ.get("LABKEEPER_NOTEBOOK_STORAGE") or None,
        }
        if os.environ.get("LABKEEPER_NODE_LABELS"):
            values["node_labels"] = tuple(os.environ["LABKEEPER_NODE_LABELS"].split(","))
        if os.environ.get("LABKEEPER_TASK_SLOTS"):
            values["task_slots"] = int(os.environ["LABKEEPER_TASK_SLOTS"])
        if os.environ.get("LABKEEPER_NO_WORKER") == "1":
            values["embedded_worker"] = False
        if os.environ.get("LABKEEPER_GRACEFUL_TIMEOUT"):
            values["graceful_timeout"] = float(os.environ["LABKEEPER_GRACEFUL_TIMEOUT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(str(values["data_dir"])).resolve()
        if values.get("task_runner") not in (None, "in-process", "procrastinate"):
            raise ValueError("the task runner is 'in-process' or 'procrastinate'")
        if values.get("notebook_storage") not in (None, "files", "store"):
            raise ValueError("the notebook storage is 'files' or 'store'")
        return cls(**values)  # type: ignore[arg-type]
