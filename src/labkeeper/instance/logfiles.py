"""labkeeper's own log, written to `<data dir>/logs/labkeeper.log` besides stderr, and read
back by admins (`GET /admin/logs/`, `GET /admin/logs/{name}`) with secrets redacted.

Lines are redacted twice: when written (the handler carries the same filters as stderr's)
and when read, so a file written by an older version or by hand shows no key, no password
in a database URL, and no `password=`/`token:` value either. Several workers append to the
one file (O_APPEND); rotate it with logrotate's `copytruncate` or by renaming it (the
handler reopens a renamed file). A read answers at most the last MAX_READ_BYTES.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

from labkeeper.auth.keys import mask_secrets
from labkeeper.errors import NotFound
from labkeeper.server.logfilter import RedactSecrets
from labkeeper.server.logs import FORMATTERS, RequestContext

LOG_DIR = "logs"
LOG_NAME = "labkeeper.log"
MAX_READ_BYTES = 8 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_URL_PASSWORD = re.compile(r"(\w+://[^\s:/@]*:)[^\s@/]+@")
_ASSIGNED_SECRET = re.compile(
    r"""(?i)((?:password|passwd|secret|token|api[_-]?key|apikey|credentials?)["']?\s*[:=]\s*["']?)[^\s"',}]+"""
)


def redact(text: str) -> str:
    text = mask_secrets(text)
    text = _URL_PASSWORD.sub(r"\1[redacted]@", text)
    return _ASSIGNED_SECRET.sub(r"\1[redacted]", text)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def log_dir(data_dir: Path) -> Path:
    return data_dir / LOG_DIR


def install(data_dir: Path, log_format: str) -> None:
    """Add the file handler to the `labkeeper` and `uvicorn` loggers (a later call replaces it)."""
    folder = log_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("labkeeper", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not getattr(h, "labkeeper_file", False)]
        handler = logging.handlers.WatchedFileHandler(folder / LOG_NAME, delay=True)
        handler.setFormatter(FORMATTERS[log_format]())
        for log_filter in (RequestContext(), RedactSecrets(), _Redact()):
            handler.addFilter(log_filter)
        handler.labkeeper_file = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def list_logs(data_dir: Path) -> list[str]:
    folder = log_dir(data_dir)
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries if e.is_file(follow_symlinks=False) and _NAME.fullmatch(e.name))


def read_log(data_dir: Path, name: str) -> str:
    """The end of one listed log file, redacted. Only a name `list_logs` gives is read: no
    path, no symbolic link."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name not in list_logs(data_dir):
        raise NotFound(f"No log named {name!r}: GET /admin/logs/ lists them")
    fd = os.open(log_dir(data_dir) / name, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_READ_BYTES:
            f.seek(size - MAX_READ_BYTES)
            f.readline()  # start on a whole line
        data = f.read(MAX_READ_BYTES)
    return redact(data.decode("utf-8", errors="replace"))
