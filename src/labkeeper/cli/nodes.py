"""`labkeeper nodes [list]`, `labkeeper nodes drain|undrain NAME`: the machines of an instance."""

from __future__ import annotations

import argparse
import time
from typing import Any

from labkeeper.cli._remote import print_json, print_table, run_command
from labkeeper.client import DSSClient


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("nodes", help="list the API and worker nodes of an instance, drain one")
    parser.add_argument("--json", action="store_true", help="print the raw list")
    parser.set_defaults(handler=lambda args: run_command(lambda c: list_nodes(c, args)))
    commands = parser.add_subparsers(dest="nodes_command")
    listing = commands.add_parser("list", help="every node, its role, heartbeat, kernels and tasks")
    listing.add_argument("--json", action="store_true", help="print the raw list")
    listing.set_defaults(handler=lambda args: run_command(lambda c: list_nodes(c, args)))
    drain = commands.add_parser("drain", help="place no new kernels or node tasks on NAME")
    drain.add_argument("name")
    drain.set_defaults(handler=lambda args: run_command(lambda c: set_draining(c, args.name, True)))
    undrain = commands.add_parser("undrain", help="let NAME take new placements again")
    undrain.add_argument("name")
    undrain.set_defaults(handler=lambda args: run_command(lambda c: set_draining(c, args.name, False)))


def list_nodes(client: DSSClient, args: argparse.Namespace) -> int:
    nodes = client.list_nodes()
    if args.json:
        print_json(nodes)
        return 0
    now = time.time() * 1000
    rows = [
        [
            n["name"],
            n["role"],
            n["state"],
            n["version"],
            f"{(now - n['lastHeartbeat']) / 1000:.0f}s ago",
            n["liveKernels"],
            n["runningTasks"],
        ]
        for n in nodes
    ]
    print_table(["NAME", "ROLE", "STATE", "VERSION", "HEARTBEAT", "KERNELS", "TASKS"], rows)
    return 0


def set_draining(client: DSSClient, name: str, draining: bool) -> int:
    node = client.drain_node(name, draining)
    print(f"node {node['name']}: {node['state']}")
    return 0
