"""`labkeeper serve`: prepare the store, print the bootstrap key once, run uvicorn."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import click

from labkeeper.config import Config

# Options of `serve` that are not node options (node_options): given to Config apart.
SERVE_ONLY = ("host", "port", "workers", "access_log", "metrics_public", "no_worker", "task_runner")


def node_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `serve` and `worker` share: where the node's data and store are, and how
    it stands among the instance's nodes."""
    for decorator in reversed(
        [
            click.option("--data-dir", help="data directory (default: ./labkeeper-data)"),
            click.option(
                "--database-url",
                help="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db "
                "(default: SQLite in the data directory)",
            ),
            click.option(
                "--kernel-python",
                help="interpreter (with ipykernel) of the built-in Python kernel (default: labkeeper's "
                "own); as root, kernels run as an unprivileged account that must be able to execute it",
            ),
            click.option(
                "--graceful-timeout",
                type=float,
                default=30.0,
                metavar="SECONDS",
                help="on SIGTERM/SIGINT, let requests finish for this long, then interrupt the tasks, "
                "kernels and queries still running and exit (default 30; the stop never takes more "
                "than this plus 5 s)",
            ),
            click.option(
                "--log-format",
                type=click.Choice(["text", "json"]),
                default="text",
                help="text lines, or one JSON object per line (time, level, logger, message, requestId, "
                "user, route, status, durationMs)",
            ),
            click.option("--node-name", help="this node's name in GET /admin/nodes (default: the host name)"),
            click.option(
                "--label",
                "labels",
                multiple=True,
                metavar="LABEL",
                help="a label of this node (repeatable, e.g. --label gpu --label big): a project pinned "
                "to a label (its settings' nodeLabel) runs its kernels only on nodes carrying it",
            ),
            click.option(
                "--public-url",
                help="the URL at which the API is reached (through the load balancer): the address "
                "kernels call back to, never the one a request happened to use",
            ),
            click.option(
                "--task-slots",
                type=int,
                help="PostgreSQL: how many tasks this node runs at once (default 100; builds are "
                "bounded apart by codeEnvs.maxConcurrentBuilds)",
            ),
            click.option(
                "--notebook-storage",
                type=click.Choice(["files", "store"]),
                help="where Jupyter notebooks are kept: files of the data dir (default on SQLite) or the "
                "store, which every node reads (default on PostgreSQL; files found there are moved in)",
            ),
            click.option(
                "--secret-key-file",
                help="file of the instance secret (connection passwords), shared by every node; "
                "one key per line, the first encrypts, the others still decrypt (rotation). "
                "Also LABKEEPER_SECRET_KEY",
            ),
        ]
    ):
        command = decorator(command)
    return command


@click.command("serve")
@node_options
@click.option("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=11200, help="port to listen on (default 11200)")
@click.option("--workers", type=int, default=1, help="worker processes (default 1)")
@click.option(
    "--access-log",
    is_flag=True,
    help="log every request (off by default: it halves the throughput of small reads; "
    "state changes are always in the audit log)",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    help="serve GET /metrics without a key (default: an admin key or mayReadMetrics)",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="on PostgreSQL, only queue tasks: leave their execution to worker nodes "
    "(`labkeeper worker`); by default this process runs a worker too",
)
@click.option(
    "--task-runner",
    type=click.Choice(["in-process", "procrastinate"]),
    help="how futures run (default: in-process on SQLite, procrastinate on PostgreSQL)",
)
def serve(**options: Any) -> int:
    """Run a labkeeper instance."""
    return run(options)


def config_from_options(options: Mapping[str, Any], *, serves_api: bool = True, **more: Any) -> Config | None:
    """The Config of `serve` or `worker`; None (after saying why) when an option is wrong."""
    from labkeeper.names import check_name

    args = SimpleNamespace(**options)

    if args.graceful_timeout < 0:
        print("labkeeper: --graceful-timeout must not be negative", file=sys.stderr)
        return None
    if args.task_slots is not None and args.task_slots < 1:
        print("labkeeper: --task-slots must be at least 1", file=sys.stderr)
        return None
    if args.public_url is not None and not args.public_url.startswith(("http://", "https://")):
        print("labkeeper: --public-url must be an http:// or https:// URL", file=sys.stderr)
        return None
    if args.node_name is not None:
        try:
            check_name("node name", args.node_name)
        except Exception as exc:  # noqa: BLE001 - BadRequest: its message says what to fix
            print(f"labkeeper: --node-name: {exc}", file=sys.stderr)
            return None
    labels = tuple(dict.fromkeys(args.labels or ()))
    try:
        from labkeeper.nodes.service import check_label

        for label in labels:
            check_label(label)
    except Exception as exc:  # noqa: BLE001 - BadRequest: its message says what to fix
        print(f"labkeeper: --label: {exc}", file=sys.stderr)
        return None
    from labkeeper.connections.secrets import SecretMisconfigured, configured_keys

    config = Config.from_env(
        data_dir=args.data_dir,
        database_url=args.database_url,
        kernel_python=args.kernel_python,
        graceful_timeout=args.graceful_timeout,
        log_format=args.log_format,
        node_name=args.node_name,
        node_labels=labels or None,
        public_url=args.public_url,
        secret_key_file=args.secret_key_file,
        notebook_storage=args.notebook_storage,
        task_slots=args.task_slots,
        serves_api=serves_api,
        **more,
    )
    try:
        configured_keys(config.secret_key, config.secret_key_file)
    except SecretMisconfigured as exc:
        print(f"labkeeper: {exc}", file=sys.stderr)
        return None
    return config


def run(options: Mapping[str, Any]) -> int:
    # Imported here, not at the top: each worker of --workers N re-imports this module before
    # it unpickles its config (which ties it to its supervisor), so that import stays small.
    import uvicorn

    from labkeeper.server.app import create_app, prepare
    from labkeeper.server.bootstrap import KEY_FILE
    from labkeeper.server.supervision import CANCEL_MARGIN, SUPERVISOR_PID_ENV, Supervisor, WorkerConfig
    from labkeeper.server.transport import CoalescingProtocol

    args = SimpleNamespace(**options)
    if args.workers < 1:
        print("labkeeper: --workers must be at least 1", file=sys.stderr)
        return 2
    node = {k: v for k, v in options.items() if k not in SERVE_ONLY}
    config = config_from_options(
        node,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log or None,
        metrics_public=args.metrics_public or None,
        task_runner=args.task_runner,
        embedded_worker=False if args.no_worker else None,
    )
    if config is None:
        return 2
    created = prepare(config)  # the key, when this start created it
    if created is not None and config.bootstrap_admin_key is not None:
        print("labkeeper: created user 'admin' with the key from LABKEEPER_BOOTSTRAP_ADMIN_KEY", flush=True)
    if created is not None and config.bootstrap_admin_key is None:
        print(
            f"labkeeper: created user 'admin' and its API key (shown once; also in "
            f"{config.data_dir / KEY_FILE}, mode 0600):\n\n    {created}\n",
            flush=True,
        )
    if created is not None:
        print(
            f"labkeeper: the web console is at http://{config.host}:{config.port}/ ; to sign in as "
            "'admin', first set its password:\n\n"
            f"    labkeeper users set-password admin --data-dir {config.data_dir}\n",
            flush=True,
        )
    print(f"labkeeper: serving on http://{config.host}:{config.port} (data in {config.data_dir})", flush=True)
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": "info",
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,  # labkeeper writes its own line per request (server/request_path.py)
        "http": CoalescingProtocol,  # an answer's headers and body in one write (server/transport.py)
        "log_config": None,  # labkeeper sets up the logging (server/logs.py)
        # At the bound the app interrupts what runs (supervision.GracefulStop), so waiting
        # requests answer; uvicorn cancels what is left just after.
        "timeout_graceful_shutdown": config.graceful_timeout + CANCEL_MARGIN,
    }
    if config.workers == 1:
        uvicorn.run(create_app(config), **common)
        return 0
    # Worker processes build their app from the environment, and die with this process.
    os.environ["LABKEEPER_DATA_DIR"] = str(config.data_dir)
    os.environ["LABKEEPER_GRACEFUL_TIMEOUT"] = str(config.graceful_timeout)
    os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())
    os.environ["LABKEEPER_LOG_FORMAT"] = config.log_format
    os.environ["LABKEEPER_ACCESS_LOG"] = "1" if config.access_log else ""
    os.environ["LABKEEPER_METRICS_PUBLIC"] = "1" if config.metrics_public else ""
    # Each worker counts into files there; a scrape of any worker sums them (server/metrics.py).
    metrics_dir = config.run_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # server/metrics.py MULTIPROC_ENV
    if config.database_url:
        os.environ["LABKEEPER_DATABASE_URL"] = config.database_url
    if config.kernel_python:
        os.environ["LABKEEPER_KERNEL_PYTHON"] = config.kernel_python
    for name, value in (
        ("LABKEEPER_TASK_RUNNER", config.task_runner),
        ("LABKEEPER_NODE_NAME", config.node_name),
        ("LABKEEPER_PUBLIC_URL", config.public_url),
        ("LABKEEPER_SECRET_KEY_FILE", config.secret_key_file),
        ("LABKEEPER_NOTEBOOK_STORAGE", config.notebook_storage),
        ("LABKEEPER_TASK_SLOTS", str(config.task_slots)),
        ("LABKEEPER_NODE_LABELS", ",".join(config.node_labels)),
    ):
        if value:
            os.environ[name] = value
    if not config.embedded_worker:
        os.environ["LABKEEPER_NO_WORKER"] = "1"
    server_config = WorkerConfig(
        "labkeeper.server.app:app_from_env", factory=True, workers=config.workers, **common
    )
    socket = server_config.bind_socket()
    try:
        Supervisor(server_config, sockets=[socket], graceful_timeout=config.graceful_timeout).run()
    finally:
        socket.close()
    return 0
