"""Build logs: the complete output of each build, one file per build, kept until the env
is deleted. `<data_dir>/code-envs/logs/<lang>/<env>/<UTC time to the ms>-<mode>-<future id>.log`.

Written by the server only: `logs/` is 0700 and each file 0600, so neither the build account
nor a kernel's account can read them. Every line is masked (credentials of index URLs) as
it is written, and again when read through the API (logs written before masking existed).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from labkeeper.codeenvs.masking import Masker, mask
from labkeeper.errors import NotFound
from labkeeper.server.answers import folder_stamp as answers_folder_stamp

_LOG_NAME = re.compile(r"\d{8}-\d{6}\.\d{3}-[a-z-]+-[0-9a-f]+\.log")


def logs_dir(data_dir: Path, lang: str, name: str) -> Path:
    return Path(data_dir) / "code-envs" / "logs" / lang.lower() / name


class BuildLog:
    """One build's log file, written line by line as the build runs."""

    def __init__(self, data_dir: Path, lang: str, name: str, mode: str, task_id: str) -> None:
        folder = logs_dir(data_dir, lang, name)
        root = Path(data_dir) / "code-envs" / "logs"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = time.time()
        stamp = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}"
        self.name = f"{stamp}-{mode}-{task_id}.log"
        self.path = folder / self.name
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        self._file: TextIO = open(fd, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
        self.mask: Masker = Masker()

    def line(self, text: str) -> None:
        if not self._file.closed:
            text = self.mask(text)
            self._file.write(text if text.endswith("\n") else text + "\n")

    def command(self, argv: Sequence[str]) -> None:
        self.line("$ " + shlex.join(argv))

    def close(self) -> None:
        self._file.close()

    def tail(self, lines: int = 30) -> str:
        self._file.flush()
        return "".join(self.path.read_text(errors="replace").splitlines(keepends=True)[-lines:])


def folder_stamp(data_dir: Path, lang: str, name: str) -> tuple[Callable[[], Any], Any]:
    """The file stamp of an env's log folder (server/answers.py): a log being written keeps
    changing it."""
    return answers_folder_stamp(logs_dir(data_dir, lang.upper(), name))


def list_logs(data_dir: Path, lang: str, name: str) -> list[dict[str, Any]]:
    folder = logs_dir(data_dir, lang, name)
    if not folder.is_dir():
        return []
    items = []
    for path in folder.iterdir():
        if not _LOG_NAME.fullmatch(path.name):
            continue
        stat = path.stat()
        parts = path.name.removesuffix(".log").split("-")
        items.append(
            {
                "name": path.name,
                "size": stat.st_size,
                "lastModified": int(stat.st_mtime * 1000),
                "mode": "-".join(parts[2:-1]),
                "futureId": parts[-1],
            }
        )
    return sorted(items, key=lambda item: item["name"], reverse=True)


def read_log(data_dir: Path, lang: str, name: str, log_name: str) -> str:
    path = logs_dir(data_dir, lang, name) / log_name
    if not _LOG_NAME.fullmatch(log_name) or not path.is_file():
        raise NotFound(f"Code env {name!r} has no log named {log_name!r}; list_logs() gives the names")
    return mask(path.read_text(errors="replace"))


def remove_logs(data_dir: Path, lang: str, name: str) -> None:
    shutil.rmtree(logs_dir(data_dir, lang, name), ignore_errors=True)
