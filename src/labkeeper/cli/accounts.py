"""`labkeeper keys|users`: API keys (personal and global) and users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from labkeeper.cli._output import json_option, show, when, with_client
from labkeeper.cli._remote import CommandError
from labkeeper.cli.users import read_password, set_password
from labkeeper.client import DSSClient


@click.group(
    "keys", help="API keys: your personal keys, every user's (--all-users), or global keys (--global)."
)
def keys() -> None:
    pass


def _key_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        row = {k: v for k, v in item.items() if k != "key"}  # never the secret in a listing
        row["created"], row["expires"] = when(item.get("createdOn")), when(item.get("expiresOn"))
        rows.append(row)
    return rows


@keys.command("list")
@click.option("--global", "global_keys", is_flag=True, help="global keys (admin)")
@click.option("--all-users", is_flag=True, help="every user's personal keys (admin)")
@json_option
@with_client
def keys_list(client: DSSClient, global_keys: bool, all_users: bool, as_json: bool) -> int:
    if global_keys and all_users:
        raise CommandError("choose --global or --all-users, not both", 2)
    if global_keys:
        items = client._perform_json("GET", "/admin/global-api-keys/")
        columns = [
            ("ID", "id"),
            ("LABEL", "label"),
            ("GROUPS", "groups"),
            ("USER", "dssUserForImpersonation"),
        ]
    elif all_users:
        items = client._perform_json("GET", "/admin/personal-api-keys/")
        columns = [("ID", "id"), ("USER", "user"), ("LABEL", "label")]
    else:
        items = client._perform_json("GET", "/personal-api-keys/")
        columns = [("ID", "id"), ("USER", "user"), ("LABEL", "label")]
    rows = _key_rows(items)
    show(
        rows,
        [*columns, ("CREATED (UTC)", "created"), ("EXPIRES (UTC)", "expires")],
        as_json=as_json,
        raw=rows,
    )
    return 0


@keys.command("create")
@click.option("--global", "global_key", is_flag=True, help="a global key (admin)")
@click.option("--label", default="", help="what the key is for")
@click.option("--admin", is_flag=True, help="global key: with admin rights")
@click.option("--group", "groups", multiple=True, help="global key: a group whose rights it has (repeatable)")
@click.option("--user", "for_user", help="personal key of this user (admin); a global key impersonates them")
@json_option
@with_client
def keys_create(
    client: DSSClient,
    global_key: bool,
    label: str,
    admin: bool,
    groups: tuple[str, ...],
    for_user: str | None,
    as_json: bool,
) -> int:
    if not global_key and (admin or groups):
        raise CommandError("--admin and --group are for global keys (add --global)", 2)
    if global_key:
        body: dict[str, Any] = {"label": label, "globalPermissions": {"admin": admin}, "groups": list(groups)}
        if for_user:
            body["dssUserForImpersonation"] = for_user
        created = client._perform_json("POST", "/admin/global-api-keys/", body=body)
    elif for_user:
        created = client._perform_json(
            "POST", "/admin/personal-api-keys/", body={"user": for_user, "label": label}
        )
    else:
        created = client._perform_json("POST", "/personal-api-keys/", body={"label": label})
    if as_json:
        show([], [], as_json=True, raw=created)
    else:
        click.echo(f"created key {created['id']}; its secret, shown this once:")
        click.echo(created["key"])
    return 0


@keys.command("revoke")
@click.argument("key_id")
@click.option("--global", "global_key", is_flag=True, help="a global key (admin)")
@with_client
def keys_revoke(client: DSSClient, key_id: str, global_key: bool) -> int:
    if global_key:
        client.get_global_api_key_by_id(key_id).delete()
    else:
        client.get_personal_api_key(key_id).delete()
    click.echo(f"revoked key {key_id}")
    return 0


@click.group("users", help="Users (admin).")
def users() -> None:
    pass


@users.command("list")
@json_option
@with_client
def users_list(client: DSSClient, as_json: bool) -> int:
    items = client.list_users()
    columns = [
        ("LOGIN", "login"),
        ("NAME", "displayName"),
        ("GROUPS", "groups"),
        ("ENABLED", "enabled"),
        ("PROFILE", "userProfile"),
    ]
    show(items, columns, as_json=as_json)
    return 0


@users.command("create")
@click.argument("login")
@click.option("--display-name", default="", help="the name shown for the user")
@click.option("--email", default=None)
@click.option("--group", "groups", multiple=True, help="a group to join (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@click.option("--no-password", is_flag=True, help="no password (API keys only)")
@with_client
def users_create(
    client: DSSClient,
    login: str,
    display_name: str,
    email: str | None,
    groups: tuple[str, ...],
    password_stdin: bool,
    no_password: bool,
) -> int:
    password = None if no_password else read_password(password_stdin)
    client.create_user(login, password, display_name=display_name, groups=list(groups), email=email)
    click.echo(f"created user {login}")
    return 0


@users.command("disable")
@click.argument("login")
@with_client
def users_disable(client: DSSClient, login: str) -> int:
    settings = client.get_user(login).get_settings()
    settings.enabled = False
    settings.save()
    click.echo(f"disabled user {login}; their keys stop working and their kernels and tasks stop")
    return 0


@users.command("set-password")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="write to this instance's store directly (no server needed)",
)
@click.option("--database-url", help="with --data-dir: the store when it is not the SQLite file there")
def users_set_password(
    login: str, password_stdin: bool, data_dir: Path | None, database_url: str | None
) -> int:
    """Set LOGIN's password (console sign-in): through the API, or straight in the store."""
    return set_password(login, password_stdin=password_stdin, data_dir=data_dir, database_url=database_url)
