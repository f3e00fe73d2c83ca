"""Keep secrets out of access logs: the deprecated key-by-secret route carries one in its path."""

from __future__ import annotations

import logging
import re

_SECRET_IN_PATH = re.compile(r"(/admin/globalAPIKeys/)[^\s/?\"]+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_IN_PATH.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _SECRET_IN_PATH.sub(r"\1[redacted]", record.msg)
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
