"""`labkeeper notebooks|sessions|projects`: running notebooks, their sessions, project archives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from labkeeper.cli._output import json_option, show, when, with_client
from labkeeper.cli._remote import CommandError
from labkeeper.client import DSSClient
from labkeeper.client._http import path_segment


@click.group("notebooks", help="Running Jupyter notebooks (admin).")
def notebooks() -> None:
    pass


@notebooks.command("list")
@json_option
@with_client
def notebooks_list(client: DSSClient, as_json: bool) -> int:
    items: Any = client.list_running_notebooks(as_objects=False)
    rows = [{**i, "sessions": len(i.get("activeSessions") or [])} for i in items]
    show(
        rows,
        [("PROJECT", "projectKey"), ("NOTEBOOK", "name"), ("SESSIONS", "sessions")],
        as_json=as_json,
        raw=items,
    )
    return 0


@notebooks.command("unload")
@click.argument("project_key")
@click.argument("name")
@click.option(
    "--session", "session_id", help="unload this session only (default: every session of the notebook)"
)
@with_client
def notebooks_unload(client: DSSClient, project_key: str, name: str, session_id: str | None) -> int:
    base = f"/projects/{path_segment(project_key)}/jupyter-notebooks/{path_segment(name)}/sessions"
    sessions = [s["sessionId"] for s in client._perform_json("GET", base)]
    if session_id is not None:
        if session_id not in sessions:
            raise CommandError(f"notebook {project_key}/{name} has no session {session_id}")
        sessions = [session_id]
    for sid in sessions:
        client._perform_json("DELETE", f"{base}/{path_segment(sid)}")
        click.echo(f"unloaded session {sid} of {project_key}/{name}")
    if not sessions:
        click.echo(f"{project_key}/{name} has no running session")
    return 0


@click.group("sessions", help="Notebook sessions (admin).")
def sessions() -> None:
    pass


@sessions.command("list")
@json_option
@with_client
def sessions_list(client: DSSClient, as_json: bool) -> int:
    items: Any = client.list_running_notebooks(as_objects=False)
    rows = [s for item in items for s in item.get("activeSessions") or []]
    for row in rows:
        row["started"] = when(row.get("sessionStartTime"))
    columns = [
        ("SESSION", "sessionId"),
        ("PROJECT", "projectKey"),
        ("NOTEBOOK", "notebookName"),
        ("USER", "sessionCreator"),
        ("UNIX USER", "sessionUnixOwner"),
        ("STATE", "kernelExecutionState"),
        ("PID", "kernelPid"),
        ("STARTED (UTC)", "started"),
    ]
    show(rows, columns, as_json=as_json)
    return 0


@click.group("projects", help="Projects: list, export to a zip, import from one.")
def projects() -> None:
    pass


@projects.command("list")
@json_option
@with_client
def projects_list(client: DSSClient, as_json: bool) -> int:
    items = client.list_projects()
    show(
        items,
        [("KEY", "projectKey"), ("NAME", "name"), ("OWNER", "owner"), ("STATUS", "projectStatus")],
        as_json=as_json,
    )
    return 0


@projects.command("export")
@click.argument("project_key")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_client
def projects_export(client: DSSClient, project_key: str, file: Path) -> int:
    size = client.export_project_to_file(project_key, file)
    click.echo(f"exported {project_key} to {file} ({size} bytes)")
    return 0


@projects.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "target_key", help="the new project's key (default: the exported one)")
@click.option("--remap-connection", multiple=True, metavar="SOURCE=TARGET", help="use another connection")
@click.option("--remap-code-env", multiple=True, metavar="SOURCE=TARGET", help="use another code env")
@with_client
def projects_import(
    client: DSSClient,
    file: Path,
    target_key: str | None,
    remap_connection: tuple[str, ...],
    remap_code_env: tuple[str, ...],
) -> int:
    def pairs(values: tuple[str, ...], option: str) -> list[dict[str, str]]:
        out = []
        for value in values:
            source, sep, target = value.partition("=")
            if not sep or not source or not target:
                raise CommandError(f"{option} takes SOURCE=TARGET, got {value!r}", 2)
            out.append({"source": source, "target": target})
        return out

    settings: dict[str, Any] = {
        "remapping": {
            "connections": pairs(remap_connection, "--remap-connection"),
            "codeEnvs": pairs(remap_code_env, "--remap-code-env"),
        }
    }
    if target_key:
        settings["targetProjectKey"] = target_key
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(f"uploading {file.name}", total=file.stat().st_size)
        with open(file, "rb") as raw:
            handle = client.prepare_project_import(_Counting(raw, lambda n: progress.advance(task, n)))
    result = handle.execute(settings)
    for message in result.get("messages") or []:
        click.echo(f"{message.get('severity', 'INFO')}: {message.get('message')}", err=True)
    click.echo(f"imported {file} as project {result.get('projectKey')}")
    return 0


class _Counting:
    """A binary file that reports how much was read from it (for the upload's progress)."""

    def __init__(self, raw: Any, on_read: Any) -> None:
        self._raw, self._on_read = raw, on_read

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._on_read(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
