"""Encryption of connection passwords at rest, with the instance secret.

**Configured (several machines).** The instance secret comes from configuration, the same
on every node: `LABKEEPER_SECRET_KEY` (one key, or several separated by commas) or
`--secret-key-file` (one key per line, `#` comments). The first key encrypts; every key
decrypts, so rotation is: put the new key first, keep the old ones after it, restart the
nodes one at a time; each password is re-encrypted with the new key when its connection
is next saved; once all are, drop the old keys. A key is any string of at least 32
characters (`openssl rand -base64 32`); the encryption key is derived from it (HKDF-SHA256).
A key file that was generated before (below) still decrypts after a secret is configured.

**Generated (one machine).** Without configuration the key lives in
`<data_dir>/secrets/connections.key` (mode 0600, its folder 0700), created on first use.
Creation writes a temporary file and hard-links it into place, so two workers starting
together agree on one key. Losing the key file makes the stored passwords unreadable: back
it up with the data directory.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE = Path("secrets") / "connections.key"
MIN_SECRET_LENGTH = 32
_cache: dict[Path, MultiFernet] = {}
_configured: dict[Path, list[str]] = {}
_lock = threading.Lock()


class SecretUnreadable(Exception):
    """A stored secret that the current key cannot decrypt."""


class SecretMisconfigured(ValueError):
    """The configured instance secret cannot be used (said why, never what it is)."""


def parse_keys(text: str, *, separator: str = "\n") -> list[str]:
    keys = [k.strip() for k in text.split(separator)]
    keys = [k for k in keys if k and not k.startswith("#")]
    if not keys:
        raise SecretMisconfigured("the instance secret is empty")
    for position, key in enumerate(keys, 1):
        if len(key) < MIN_SECRET_LENGTH:
            raise SecretMisconfigured(
                f"instance secret key {position} is shorter than {MIN_SECRET_LENGTH} characters"
            )
    return keys


def configured_keys(secret_key: str | None, secret_key_file: str | None) -> list[str] | None:
    """The keys set by configuration (the file wins over the variable), or None."""
    if secret_key_file:
        try:
            return parse_keys(Path(secret_key_file).read_text())
        except OSError as exc:
            raise SecretMisconfigured(f"cannot read the secret key file: {exc.strerror}") from None
    if secret_key:
        return parse_keys(secret_key, separator=",")
    return None


def configure(data_dir: Path, keys: list[str] | None) -> None:
    """Use `keys` (None: the generated key file) for the passwords of `data_dir`'s instance."""
    path = (data_dir / KEY_FILE).resolve()
    with _lock:
        if keys:
            _configured[path] = list(keys)
        else:
            _configured.pop(path, None)
        _cache.pop(path, None)


def _derive(key: str) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"labkeeper connection passwords")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(key.encode())))


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


def _fernet(data_dir: Path) -> MultiFernet:
    path = (data_dir / KEY_FILE).resolve()
    with _lock:
        fernet = _cache.get(path)
        if fernet is None:
            keys = _configured.get(path)
            if keys:
                fernets = [_derive(k) for k in keys]
                if path.exists():  # passwords saved before the secret was configured
                    fernets.append(Fernet(path.read_bytes().strip()))
            else:
                fernets = [Fernet(_load_or_create(path))]
            fernet = _cache[path] = MultiFernet(fernets)
        return fernet


def encrypt(data_dir: Path, clear: str) -> str:
    if not clear:
        return ""
    return _fernet(data_dir).encrypt(clear.encode()).decode("ascii")


def _unreadable(data_dir: Path) -> SecretUnreadable:
    source = (
        "the configured instance secret"
        if (data_dir / KEY_FILE).resolve() in _configured
        else f"this instance's key ({data_dir / KEY_FILE})"
    )
    return SecretUnreadable(f"the stored password cannot be decrypted with {source}; set the password again")


def decrypt(data_dir: Path, token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(data_dir).decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise _unreadable(data_dir) from None


def reencrypt(data_dir: Path, token: str) -> str:
    """`token` encrypted again with the current (first) key; unreadable tokens stay as they are."""
    if not token:
        return ""
    try:
        return _fernet(data_dir).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        return token
