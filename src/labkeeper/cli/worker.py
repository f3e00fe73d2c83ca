"""`labkeeper worker`: a worker node. It serves no HTTP: it executes the tasks queued in the
PostgreSQL store (procrastinate) and the kernels placed on it, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import importlib
import signal
import sys
from typing import Any

import click

from labkeeper.cli.serve import config_from_options, node_options


@click.command("worker")
@node_options
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="a module of extra operations (plugins) this worker runs; repeatable",
)
def worker(imports: tuple[str, ...], **options: Any) -> int:
    """Run a worker node of an instance on PostgreSQL."""
    from labkeeper.server.app import create_app, prepare

    config = config_from_options(options, serves_api=False)
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
    for module in imports:
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
