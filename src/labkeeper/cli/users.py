"""`labkeeper users set-password LOGIN`: set a user's password, to sign in to the web console.

Through the instance's API with an admin key (as the other admin commands), or, with
`--data-dir` (and `--database-url` when the store is not the SQLite file there), straight in
the store: the way to give the first `admin` a password before anyone holds a client config.
The password is read from the terminal (twice) or from standard input, never from the
command line, where other accounts could read it in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from labkeeper.cli._remote import EXIT_FAILED, EXIT_USAGE, CommandError, run_command
from labkeeper.client import DSSClient


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("users", help="manage users of an instance")
    commands = parser.add_subparsers(dest="users_command", required=True)
    setpw = commands.add_parser("set-password", help="set a user's password (web console sign-in)")
    setpw.add_argument("login")
    setpw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    setpw.add_argument(
        "--data-dir", type=Path, help="write to this instance's store directly (no server needed)"
    )
    setpw.add_argument(
        "--database-url", help="with --data-dir: the store when it is not the SQLite file there"
    )
    setpw.set_defaults(handler=set_password)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords differ", EXIT_USAGE)
    if not password:
        raise CommandError("the password must not be empty", EXIT_USAGE)
    return password


def set_password(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args.password_stdin)
    except CommandError as exc:
        print(f"labkeeper: {exc}", file=sys.stderr)
        return exc.code
    if args.data_dir is not None:
        return _set_in_store(args.data_dir, args.database_url, args.login, password)

    def remote(client: DSSClient) -> int:
        settings = client.get_user(args.login).get_settings()
        settings.get_raw()["password"] = password
        settings.save()
        print(f"labkeeper: password of {args.login!r} set; its console sessions have ended")
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
        service.update_user(store, login, {"login": login, "password": password}, caller=operator)
    except LabkeeperError as exc:
        print(f"labkeeper: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.dispose()
    print(f"labkeeper: password of {login!r} set; its console sessions have ended")
    return 0
