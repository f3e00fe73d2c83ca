"""`labkeeper` command line: `serve` runs an instance; admin commands talk to one over HTTP."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from labkeeper.cli import serve

# Modules that add admin subcommands through `register(subparsers)`.
COMMAND_MODULES: list[str] = ["labkeeper.cli.futures", "labkeeper.cli.codeenvs", "labkeeper.cli.users"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkeeper", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    serve.register(subparsers)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
