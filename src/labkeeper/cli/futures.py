"""`labkeeper futures list|status|abort`: the long operations running on an instance."""

from __future__ import annotations

import argparse
from typing import Any

from labkeeper.cli._remote import CommandError, print_json, print_table, run_command, wait_with_progress
from labkeeper.client import DSSClient


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("futures", help="list, watch and abort long operations of an instance")
    commands = parser.add_subparsers(dest="futures_command", required=True)

    listing = commands.add_parser("list", help="the running operations")
    listing.add_argument("--all-users", action="store_true", help="everyone's, not only yours (admins)")
    listing.add_argument("--json", action="store_true", help="print the raw states")
    listing.set_defaults(handler=lambda args: run_command(lambda c: list_futures(c, args)))

    status = commands.add_parser("status", help="the state of one operation")
    status.add_argument("job_id")
    status.add_argument("--wait", action="store_true", help="wait until it ends, showing its progress")
    status.add_argument("--json", action="store_true", help="print the raw state")
    status.set_defaults(handler=lambda args: run_command(lambda c: show_status(c, args)))

    abort = commands.add_parser("abort", help="stop an operation (its processes are gone within a second)")
    abort.add_argument("job_id")
    abort.set_defaults(handler=lambda args: run_command(lambda c: abort_future(c, args)))


def _step(state: dict[str, Any]) -> str:
    steps = (state.get("progress") or {}).get("states") or []
    if not steps:
        return ""
    step = steps[-1]
    count = (
        f" ({step.get('cur')}/{step.get('target')})" if step.get("target") and not step.get("unknown") else ""
    )
    return f"{step.get('name', '')}{count}"


def list_futures(client: DSSClient, args: argparse.Namespace) -> int:
    states = client.list_futures(all_users=args.all_users)
    if args.json:
        print_json(states)
        return 0
    rows = [
        [
            s["jobId"],
            s.get("owner", ""),
            s.get("jobDisplayName", ""),
            f"{s.get('runningTime', 0) / 1000:.1f}",
            _step(s),
        ]
        for s in states
    ]
    print_table(["JOB ID", "OWNER", "OPERATION", "RUNNING (s)", "STEP"], rows)
    return 0


def _state_name(state: dict[str, Any]) -> str:
    if state.get("alive"):
        return "RUNNING"
    if state.get("aborted"):
        return "ABORTED"
    return "DONE" if state.get("hasResult") else "FAILED"


def show_status(client: DSSClient, args: argparse.Namespace) -> int:
    future = client.get_future(args.job_id)
    state = future.peek_state()
    if args.wait and state.get("alive"):
        result = wait_with_progress(future, state.get("jobDisplayName") or args.job_id)
        state = {**future.peek_state(), "result": result}
    if args.json:
        print_json(state)
    else:
        print_table(
            ["FIELD", "VALUE"],
            [
                ["job", state.get("jobId")],
                ["operation", state.get("jobDisplayName")],
                ["owner", state.get("owner")],
                ["state", _state_name(state)],
                ["running time (s)", f"{state.get('runningTime', 0) / 1000:.1f}"],
                ["step", _step(state)],
                *([["error", state["error"]]] if state.get("error") else []),
                *([["aborted by", state["abortedBy"]]] if state.get("aborted") else []),
            ],
        )
    if not state.get("alive") and not state.get("hasResult"):
        raise CommandError(
            f"future {args.job_id} {_state_name(state).lower()}: {state.get('error') or ''}".rstrip(": ")
        )
    return 0


def abort_future(client: DSSClient, args: argparse.Namespace) -> int:
    client.get_future(args.job_id).abort()
    print(f"aborted {args.job_id}")
    return 0
