"""`labkeeper serve`: prepare the store, print the bootstrap key once, run uvicorn."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from labkeeper.config import Config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run a labkeeper instance")
    parser.add_argument("--data-dir", help="data directory (default: ./labkeeper-data)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=11200, help="port to listen on (default 11200)")
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db "
        "(default: SQLite in the data directory)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--kernel-python",
        help="interpreter (with ipykernel) of the built-in Python kernel (default: labkeeper's own); "
        "as root, kernels run as an unprivileged account that must be able to execute it",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (off by default: it halves the throughput of small reads; "
        "state changes are always in the audit log)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, let requests finish for this long, then interrupt the tasks, "
        "kernels and queries still running and exit (default 30; the stop never takes more "
        "than this plus 5 s)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line (time, level, logger, message, requestId, "
        "user, route, status, durationMs)",
    )
    parser.add_argument(
        "--metrics-public",
        action="store_true",
        help="serve GET /metrics without a key (default: an admin key or mayReadMetrics)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: each worker of --workers N re-imports this module before
    # it unpickles its config (which ties it to its supervisor), so that import stays small.
    import uvicorn

    from labkeeper.server.app import create_app, prepare
    from labkeeper.server.bootstrap import KEY_FILE
    from labkeeper.server.supervision import CANCEL_MARGIN, SUPERVISOR_PID_ENV, Supervisor, WorkerConfig

    if args.workers < 1:
        print("labkeeper: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.graceful_timeout < 0:
        print("labkeeper: --graceful-timeout must not be negative", file=sys.stderr)
        return 2
    config = Config.from_env(
        data_dir=args.data_dir,
        database_url=args.database_url,
        host=args.host,
        port=args.port,
        workers=args.workers,
        kernel_python=args.kernel_python,
        graceful_timeout=args.graceful_timeout,
        log_format=args.log_format,
        access_log=args.access_log or None,
        metrics_public=args.metrics_public or None,
    )
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
    server_config = WorkerConfig(
        "labkeeper.server.app:app_from_env", factory=True, workers=config.workers, **common
    )
    socket = server_config.bind_socket()
    try:
        Supervisor(server_config, sockets=[socket], graceful_timeout=config.graceful_timeout).run()
    finally:
        socket.close()
    return 0
