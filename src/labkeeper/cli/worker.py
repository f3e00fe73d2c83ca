"""`labkeeper worker`: a worker node. It serves no HTTP: it executes the tasks queued in the
PostgreSQL store (procrastinate) and the kernels placed on it, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from typing import Any

from labkeeper.cli.serve import add_node_options, config_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run a worker node of an instance on PostgreSQL")
    parser.add_argument("--data-dir", help="this node's own data directory (default: ./labkeeper-data)")
    parser.add_argument("--database-url", help="SQLAlchemy URL of the instance's PostgreSQL store")
    parser.add_argument("--kernel-python", help="interpreter of the built-in Python kernel")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--graceful-timeout", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module of extra operations (plugins) this worker runs; repeatable",
    )
    add_node_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from labkeeper.server.app import create_app, prepare

    config = config_from_args(args, serves_api=False)
    if config is None:
        return 2
    if config.is_sqlite:
        print("labkeeper: a worker node needs the PostgreSQL store (--database-url)", file=sys.stderr)
        return 2
    if not (config.secret_key or config.secret_key_file):
        print(
            "labkeeper: a worker node needs the instance secret every node shares "
            "(LABKEEPER_SECRET_KEY or --secret-key-file)",
            file=sys.stderr,
        )
        return 2
    for module in args.imports:
        importlib.import_module(module)
    prepare(config)
    print(f"labkeeper: worker node {config.effective_node_name} (data in {config.data_dir})", flush=True)
    asyncio.run(_serve(create_app(config)))
    return 0


async def _serve(app: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        await stop.wait()
