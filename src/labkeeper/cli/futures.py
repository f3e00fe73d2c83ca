"""`labkeeper futures list|status|abort`: the long operations running on an instance."""

from __future__ import annotations

from typing import Any

import click

from labkeeper.cli._output import json_option, show, with_client
from labkeeper.cli._remote import CommandError, wait_with_progress
from labkeeper.client import DSSClient


@click.group("futures")
def futures() -> None:
    """List, watch and abort long operations of an instance."""


def _step(state: dict[str, Any]) -> str:
    steps = (state.get("progress") or {}).get("states") or []
    if not steps:
        return ""
    step = steps[-1]
    count = (
        f" ({step.get('cur')}/{step.get('target')})" if step.get("target") and not step.get("unknown") else ""
    )
    return f"{step.get('name', '')}{count}"


@futures.command("list")
@click.option("--all-users", is_flag=True, help="everyone's, not only yours (admins)")
@json_option
@with_client
def futures_list(client: DSSClient, all_users: bool, as_json: bool) -> int:
    """The running operations."""
    states = client.list_futures(all_users=all_users)
    rows = [{**s, "seconds": f"{s.get('runningTime', 0) / 1000:.1f}", "step": _step(s)} for s in states]
    columns = [("JOB ID", "jobId"), ("OWNER", "owner"), ("OPERATION", "jobDisplayName")]
    show(rows, [*columns, ("RUNNING (s)", "seconds"), ("STEP", "step")], as_json=as_json, raw=states)
    return 0


def _state_name(state: dict[str, Any]) -> str:
    if state.get("alive"):
        return "RUNNING"
    if state.get("aborted"):
        return "ABORTED"
    return "DONE" if state.get("hasResult") else "FAILED"


@futures.command("status")
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="wait until it ends, showing its progress")
@json_option
@with_client
def futures_status(client: DSSClient, job_id: str, wait: bool, as_json: bool) -> int:
    """The state of one operation (exit 1 when it failed or was aborted)."""
    future = client.get_future(job_id)
    state = future.peek_state()
    if wait and state.get("alive"):
        result = wait_with_progress(future, state.get("jobDisplayName") or job_id)
        state = {**future.peek_state(), "result": result}
    fields = [
        ("job", state.get("jobId")),
        ("operation", state.get("jobDisplayName")),
        ("owner", state.get("owner")),
        ("state", _state_name(state)),
        ("running time (s)", f"{state.get('runningTime', 0) / 1000:.1f}"),
        ("step", _step(state)),
        *([("error", state["error"])] if state.get("error") else []),
        *([("aborted by", state["abortedBy"])] if state.get("aborted") else []),
    ]
    rows = [{"field": name, "value": value} for name, value in fields]
    show(rows, [("FIELD", "field"), ("VALUE", "value")], as_json=as_json, raw=state)
    if not state.get("alive") and not state.get("hasResult"):
        raise CommandError(
            f"future {job_id} {_state_name(state).lower()}: {state.get('error') or ''}".rstrip(": ")
        )
    return 0


@futures.command("abort")
@click.argument("job_id")
@with_client
def futures_abort(client: DSSClient, job_id: str) -> int:
    """Stop an operation (its processes are gone within a second)."""
    client.get_future(job_id).abort()
    click.echo(f"aborted {job_id}")
    return 0
