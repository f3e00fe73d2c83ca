"""Keep secrets out of logs: a key sent in a path (the deprecated key-by-secret route carries
one, and anyone may paste one into any URL) is masked in uvicorn's access and error lines."""

from __future__ import annotations

import logging

from labkeeper.auth.keys import mask_secrets


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_secrets(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


_FILTER = RedactSecrets()
LOGGERS = ("uvicorn.access", "uvicorn.error")


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
