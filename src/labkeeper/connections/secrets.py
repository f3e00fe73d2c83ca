"""Encryption of connection passwords at rest.

The key lives in `<data_dir>/secrets/connections.key` (mode 0600, its folder 0700),
created on first use. Creation writes a temporary file and hard-links it into place, so
two workers starting together agree on one key. Losing the key file makes the stored
passwords unreadable: back it up with the data directory.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = Path("secrets") / "connections.key"
_cache: dict[Path, Fernet] = {}
_lock = threading.Lock()


class SecretUnreadable(Exception):
    """A stored secret that the current key cannot decrypt."""


def _load_or_create(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, Fernet.generate_key())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process won the race: use its key
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes().strip()


def _fernet(data_dir: Path) -> Fernet:
    path = (data_dir / KEY_FILE).resolve()
    with _lock:
        fernet = _cache.get(path)
        if fernet is None:
            fernet = _cache[path] = Fernet(_load_or_create(path))
        return fernet


def encrypt(data_dir: Path, clear: str) -> str:
    if not clear:
        return ""
    return _fernet(data_dir).encrypt(clear.encode()).decode("ascii")


def decrypt(data_dir: Path, token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(data_dir).decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the stored password cannot be decrypted with this instance's key "
            f"({data_dir / KEY_FILE}); set the password again"
        ) from None
