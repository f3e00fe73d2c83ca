"""`labkeeper settings|variables|audit`: the general settings, variables and the audit log."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from labkeeper.cli._output import json_option, show, when, with_client
from labkeeper.cli._remote import CommandError
from labkeeper.client import DataikuException, DSSClient

SETTINGS_PATH = "/admin/general-settings"


def _value(text: str) -> Any:
    """A command-line value: JSON when it parses (42, true, null, [..], {..}), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _walk(doc: dict[str, Any], dotted: str, *, create: bool = False) -> tuple[dict[str, Any], str]:
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = doc.get(part)
        if not isinstance(nxt, dict):
            if not create:
                raise CommandError(f"no setting {dotted!r}: {part!r} is not a section")
            nxt = doc[part] = {}
        doc = nxt
    return doc, parts[-1]


@click.group("settings", help="The general settings (admin).")
def settings() -> None:
    pass


@settings.command("get")
@click.argument("key", required=False)
@with_client
def settings_get(client: DSSClient, key: str | None) -> int:
    """Print the settings (JSON), or one value by dotted KEY (notebooks.maxSessionsPerUser)."""
    doc = client._perform_json("GET", SETTINGS_PATH)
    if key:
        parent, leaf = _walk(doc, key)
        if leaf not in parent:
            raise CommandError(f"no setting {key!r}")
        doc = parent[leaf]
    click.echo(json.dumps(doc, indent=2, sort_keys=True))
    return 0


@settings.command("set")
@click.argument("key")
@click.argument("value")
@with_client
def settings_set(client: DSSClient, key: str, value: str) -> int:
    """Set one value by dotted KEY; VALUE is JSON (42, true, "text", [..]) or plain text."""
    doc = client._perform_json("GET", SETTINGS_PATH)
    parent, leaf = _walk(doc, key, create=True)
    parent[leaf] = _value(value)
    client._perform_json("PUT", SETTINGS_PATH, body=doc)
    click.echo(f"{key} = {json.dumps(parent[leaf])}")
    return 0


@settings.command("edit")
@with_client
def settings_edit(client: DSSClient) -> int:
    """Open the settings in $EDITOR; save when valid, reopen with the error otherwise."""
    doc = client._perform_json("GET", SETTINGS_PATH)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    while True:
        edited = click.edit(text, extension=".json", require_save=True)
        if edited is None or edited.strip() == json.dumps(doc, indent=2, sort_keys=True):
            click.echo("no change")
            return 0
        try:
            changed = json.loads(edited)
            client._perform_json("PUT", SETTINGS_PATH, body=changed)
        except ValueError as exc:
            problem = f"not JSON: {exc}"
        except DataikuException as exc:
            problem = str(exc)
        else:
            click.echo("settings saved")
            return 0
        click.echo(f"labkeeper: {problem}", err=True)
        if not click.confirm("Edit again?", default=True):
            raise CommandError("settings left unchanged")
        text = edited


@click.group("variables", help="Instance variables, or a project's (--project).")
def variables() -> None:
    pass


def _variables_path(project: str | None) -> str:
    from labkeeper.client._http import path_segment

    return f"/projects/{path_segment(project)}/variables/" if project else "/admin/variables/"


@variables.command("get")
@click.option("--project", help="a project's variables instead of the instance's")
@with_client
def variables_get(client: DSSClient, project: str | None) -> int:
    click.echo(json.dumps(client._perform_json("GET", _variables_path(project)), indent=2, sort_keys=True))
    return 0


@variables.command("set")
@click.argument("name")
@click.argument("value")
@click.option("--project", help="a project's variable instead of the instance's")
@click.option("--local", is_flag=True, help="project: a local variable (not exported)")
@with_client
def variables_set(client: DSSClient, name: str, value: str, project: str | None, local: bool) -> int:
    if local and not project:
        raise CommandError("--local is for project variables (add --project)", 2)
    path = _variables_path(project)
    doc = client._perform_json("GET", path)
    target = doc[("local" if local else "standard")] if project else doc
    target[name] = _value(value)
    client._perform_empty("PUT", path, body=doc)
    click.echo(f"{name} = {json.dumps(target[name])}")
    return 0


@click.group("audit", help="The audit log (admin).")
def audit() -> None:
    pass


_AUDIT_COLUMNS = [
    ("TIME (UTC)", "when"),
    ("USER", "user"),
    ("ACTION", "action"),
    ("TARGET", "target"),
    ("OUTCOME", "outcome"),
]


@audit.command("tail")
@click.option(
    "-n", "--lines", default=20, show_default=True, type=click.IntRange(1, 10_000), help="events to show"
)
@click.option("-f", "--follow", is_flag=True, help="keep printing new events (Ctrl-C stops)")
@click.option(
    "--interval", default=2.0, type=click.FloatRange(0.2, 600), help="seconds between polls with --follow"
)
@json_option
@with_client
def audit_tail(client: DSSClient, lines: int, follow: bool, interval: float, as_json: bool) -> int:
    events = list(reversed(client.get_audit_log(limit=lines)))
    _print_events(events, as_json)
    seen = {e["id"] for e in events}
    since = events[-1]["time"] if events else 0
    try:
        while follow:
            time.sleep(interval)
            fresh = [
                e for e in reversed(client.get_audit_log(since=since, limit=1000)) if e["id"] not in seen
            ]
            if fresh:
                _print_events(fresh, as_json, header=False)
                seen.update(e["id"] for e in fresh)
                since = fresh[-1]["time"]
    except KeyboardInterrupt:
        return 0
    return 0


def _print_events(events: list[dict[str, Any]], as_json: bool, header: bool = True) -> None:
    if as_json:
        for event in events:  # one object per line, so --follow output stays parseable
            click.echo(json.dumps(event, sort_keys=True))
        return
    rows = [{**e, "when": when(e.get("time"))} for e in events]
    if header:
        show(rows, _AUDIT_COLUMNS, as_json=False)
    else:
        for row in rows:
            click.echo("  ".join(str(row.get(key) or "") for _, key in _AUDIT_COLUMNS))
