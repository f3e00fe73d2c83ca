"""Log lines an operator can use: the request they belong to, JSON on demand, no floods.

- Every line logged while a request is served carries its id, user and route (a
  ContextVar set by the request path); `--log-format json` writes one JSON object per line
  with time, level, logger, message, requestId, user, route, status and durationMs.
- The same warning or error (logger, message template, exception type) is written once per
  `RepeatLimiter.WINDOW_S`; the next line after the window says how many were held back.
- Text that came from a request never spans lines: the JSON encoder escapes it, and the text
  format escapes control characters.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any

import orjson

from labkeeper.server.logfilter import RedactSecrets


class RequestInfo:
    __slots__ = ("id", "user", "route", "status", "duration_ms")

    def __init__(self, request_id: str) -> None:
        self.id = request_id
        self.user = ""
        self.route = ""
        self.status = 0
        self.duration_ms = 0.0


CURRENT: ContextVar[RequestInfo | None] = ContextVar("labkeeper_request", default=None)


def current_request_id() -> str:
    info = CURRENT.get()
    return info.id if info is not None else ""


class RequestContext(logging.Filter):
    """Put the current request's id, user and route on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = CURRENT.get()
        if not hasattr(record, "request_id"):
            record.request_id = info.id if info else ""
            record.user = info.user if info else ""
            record.route = info.route if info else ""
        return True


class RepeatLimiter(logging.Filter):
    """One line per window for each repeated warning or error (see the module docstring)."""

    WINDOW_S = 60.0
    MAX_KINDS = 1000

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[tuple, list] = {}  # kind -> [window start, held back]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc_type = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        kind = (record.name, record.levelno, str(record.msg), exc_type)
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(kind)
            if seen is not None and now - seen[0] < self.WINDOW_S:
                seen[1] += 1
                return False
            held = seen[1] if seen else 0
            if len(self._seen) >= self.MAX_KINDS:
                self._seen.clear()
            self._seen[kind] = [now, 0]
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the previous {self.WINDOW_S:.0f} s)"
        return True


def _escape(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = _escape(record.message)
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", "")
        return f"{line} [request {request_id}]" if request_id else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": getattr(record, "request_id", ""),
            "user": getattr(record, "user", ""),
            "route": getattr(record, "route", ""),
        }
        for name, key in (("status", "status"), ("duration_ms", "durationMs")):
            if hasattr(record, name):
                doc[key] = getattr(record, name)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


JsonFormatter.converter = time.gmtime

FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written (as logging's last resort does)."""

    @property
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # type: ignore[no-untyped-def]
        pass


def make_handler(log_format: str) -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(FORMATTERS[log_format]())
    for log_filter in (RequestContext(), RedactSecrets(), RepeatLimiter()):
        handler.addFilter(log_filter)
    return handler


def install(log_format: str = "text") -> None:
    """One handler in `log_format` on the `labkeeper` and `uvicorn` loggers (uvicorn's own
    set-up is then switched off with `log_config=None`); a later call replaces it."""
    for name in ("labkeeper", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not getattr(h, "labkeeper", False)]
        handler = make_handler(log_format)
        handler.labkeeper = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
