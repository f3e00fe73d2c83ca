"""What the admin commands share: a client of the instance, built from LABKEEPER_URL and
LABKEEPER_API_KEY or from `~/.config/labkeeper/client.json` (`{"url": ..., "apiKey": ...}`;
$XDG_CONFIG_HOME is honoured), a progress bar for futures, and error reporting."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from labkeeper.client import DataikuException, DSSClient, DSSFuture

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class CommandError(Exception):
    """A failure to report in one line, with the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "labkeeper" / "client.json"


def connect() -> DSSClient:
    path = config_file()
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}", EXIT_USAGE) from None
        if not isinstance(stored, dict):
            raise CommandError(f"{path} must hold a JSON object with 'url' and 'apiKey'", EXIT_USAGE)
        if path.stat().st_mode & 0o077:
            print(
                f"labkeeper: warning: {path} holds an API key and is readable by others (chmod 600)",
                file=sys.stderr,
            )
    url = os.environ.get("LABKEEPER_URL") or stored.get("url")
    key = os.environ.get("LABKEEPER_API_KEY") or stored.get("apiKey")
    if not url or not key:
        raise CommandError(
            "no instance to talk to: set LABKEEPER_URL and LABKEEPER_API_KEY, or write "
            f'{path} as {{"url": "http://host:11200", "apiKey": "..."}}',
            EXIT_USAGE,
        )
    return DSSClient(str(url), api_key=str(key))


def run_command(action: Callable[[DSSClient], int | None]) -> int:
    """Run `action` with a client; turn failures into a message on stderr and an exit code."""
    try:
        client = connect()
        with client:
            return int(action(client) or 0)
    except CommandError as exc:
        print(f"labkeeper: {exc}", file=sys.stderr)
        return exc.code
    except DataikuException as exc:
        print(f"labkeeper: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except httpx.TransportError as exc:
        print(f"labkeeper: cannot reach the instance: {exc}", file=sys.stderr)
        return EXIT_FAILED


class ProgressBar:
    """Draws a future's progress: a rich progress bar redrawn in place on a terminal, one
    line per step elsewhere (logs, pipes)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_step: str | None = None
        self._bar: Progress | None = None
        if self.tty:
            console = Console(file=self.stream, force_terminal=True)
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[step]}"),
                TimeElapsedColumn(),
                console=console,
                auto_refresh=False,
            )
            self._task = self._bar.add_task(label, total=None, step="")
            self._bar.start()

    def update(self, state: dict[str, Any]) -> None:
        steps = (state.get("progress") or {}).get("states") or []
        step = steps[-1] if steps else {}
        name = step.get("name") or ("running" if state.get("alive") else "finishing")
        cur, target = int(step.get("cur") or 0), int(step.get("target") or 0)
        known = bool(target) and not step.get("unknown")
        count = f" ({cur}/{target})" if known else ""
        if self._bar is None:
            if name != self.last_step:
                print(f"{self.label}: {name}{count}", file=self.stream, flush=True)
            self.last_step = name
            return
        # An unknown amount: no total, and rich draws a moving pulse.
        self._bar.update(
            self._task, total=target if known else None, completed=cur if known else 0, step=f"{name}{count}"
        )
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def wait_with_progress(future: DSSFuture, label: str) -> Any:
    """Wait for a future, drawing its progress; Ctrl-C stops waiting, not the work."""
    bar = ProgressBar(label)
    try:
        return future.wait_for_result(on_progress=bar.update)
    except KeyboardInterrupt:
        raise CommandError(
            f"stopped waiting; the operation goes on as future {future.job_id} "
            f"('labkeeper futures abort {future.job_id}' stops it)",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        bar.close()
