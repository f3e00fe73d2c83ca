"""`labkeeper nodes [list]`, `labkeeper nodes drain|undrain NAME`: the machines of an instance."""

from __future__ import annotations

import time

import click

from labkeeper.cli._output import json_option, show, with_client
from labkeeper.client import DSSClient


@click.group("nodes", invoke_without_command=True)
@json_option
@click.pass_context
def nodes(ctx: click.Context, as_json: bool) -> int:
    """List the API and worker nodes of an instance, drain one."""
    if ctx.invoked_subcommand is None:
        return ctx.invoke(nodes_list, as_json=as_json)
    return 0


@nodes.command("list")
@json_option
@with_client
def nodes_list(client: DSSClient, as_json: bool) -> int:
    """Every node, its role, heartbeat, kernels and tasks."""
    found = client.list_nodes()
    now = time.time() * 1000
    rows = [
        {
            **n,
            "heartbeat": f"{(now - n['lastHeartbeat']) / 1000:.0f}s ago",
            "labelList": ",".join(n.get("labels") or []),
        }
        for n in found
    ]
    columns = [("NAME", "name"), ("ROLE", "role"), ("STATE", "state"), ("LABELS", "labelList")]
    columns += [("VERSION", "version")]
    columns += [("HEARTBEAT", "heartbeat"), ("KERNELS", "liveKernels"), ("TASKS", "runningTasks")]
    show(rows, columns, as_json=as_json, raw=found)
    return 0


@nodes.command("drain")
@click.argument("name")
@with_client
def drain(client: DSSClient, name: str) -> int:
    """Place no new kernels or node tasks on NAME."""
    return _set_draining(client, name, True)


@nodes.command("undrain")
@click.argument("name")
@with_client
def undrain(client: DSSClient, name: str) -> int:
    """Let NAME take new placements again."""
    return _set_draining(client, name, False)


def _set_draining(client: DSSClient, name: str, draining: bool) -> int:
    node = client.drain_node(name, draining)
    click.echo(f"node {node['name']}: {node['state']}")
    return 0
