"""How the admin commands show results: rich tables on a terminal (plain, wide tables
elsewhere), `--json` for scripts, and one wrapper that turns failures into exit codes."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from labkeeper.cli._remote import run_command

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


def with_client(action: Callable[..., int | None]) -> Callable[..., int]:
    """A command body `action(client, **options)`, run with the configured client; failures
    print one line on stderr and give the exit codes of `_remote.run_command`."""

    @functools.wraps(action)
    def command(**options: Any) -> int:
        return run_command(lambda client: action(client, **options))

    return command


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def when(ms: Any) -> str:
    """A time in ms since the epoch, as UTC text ('' for none)."""
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def show(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, as_json: bool, raw: Any = None
) -> None:
    """`rows` as a table of `columns` ((title, key) pairs), or as JSON (`raw` if given)."""
    if as_json:
        click.echo(json.dumps(raw if raw is not None else list(rows), indent=2, sort_keys=True, default=str))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 200), no_color=True)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for title, _ in columns:
        table.add_column(title, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for _, key in columns))
    console.print(table)
