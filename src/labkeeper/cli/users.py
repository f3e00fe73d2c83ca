"""`labkeeper users set-password LOGIN` (cli/accounts.py): a user's password, for the web console.

Through the instance's API with an admin key (as the other admin commands), or, with
`--data-dir` (and `--database-url` when the store is not the SQLite file there), straight in
the store: the way to give the first `admin` a password before anyone holds a client config.
The password is read from the terminal (twice) or from standard input, never from the
command line, where other accounts could read it in the process list.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from labkeeper.cli._remote import EXIT_FAILED, EXIT_USAGE, CommandError, run_command
from labkeeper.client import DSSClient


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords differ", EXIT_USAGE)
    if not password:
        raise CommandError("the password must not be empty", EXIT_USAGE)
    return password


def set_password(login: str, *, password_stdin: bool, data_dir: Path | None, database_url: str | None) -> int:
    try:
        password = read_password(password_stdin)
    except CommandError as exc:
        print(f"labkeeper: {exc}", file=sys.stderr)
        return exc.code
    if data_dir is not None:
        return _set_in_store(data_dir, database_url, login, password)

    def remote(client: DSSClient) -> int:
        settings = client.get_user(login).get_settings()
        settings.get_raw()["password"] = password
        settings.save()
        print(f"labkeeper: password of {login!r} set; its console sessions have ended")
        return 0

    return run_command(remote)


def _set_in_store(data_dir: Path, database_url: str | None, login: str, password: str) -> int:
    from labkeeper.auth import service
    from labkeeper.auth.principal import Principal
    from labkeeper.config import Config
    from labkeeper.db import Store
    from labkeeper.errors import LabkeeperError
    from labkeeper.server.app import prepare

    config = Config.from_env(data_dir=data_dir, database_url=database_url)
    prepare(config)  # migrated (and bootstrapped) as a first start would
    store = Store(config.effective_database_url)
    operator = Principal(
        login=None, groups=frozenset(), admin=True, permissions=frozenset(), key_id="cli", key_kind="GLOBAL"
    )
    try:
        body = {"login": login, "password": password}
        service.update_user(store, login, body, data_dir=config.data_dir, caller=operator)
    except LabkeeperError as exc:
        print(f"labkeeper: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.dispose()
    print(f"labkeeper: password of {login!r} set; its console sessions have ended")
    return 0
