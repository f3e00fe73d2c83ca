"""`labkeeper code-envs list|create|update|delete`: an instance's code envs, with a progress
bar while a build runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from labkeeper.cli._output import json_option, show, with_client
from labkeeper.cli._remote import CommandError, wait_with_progress
from labkeeper.client import DSSClient, DSSFuture


@click.group("code-envs")
def code_envs() -> None:
    """List, create, update and delete code envs of an instance."""


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--no-wait", is_flag=True, help="print the future's id and return at once")(
        command
    )
    command = click.option(
        "--lang", default="PYTHON", type=click.Choice(["PYTHON", "R"]), help="default PYTHON"
    )(command)
    return click.argument("name")(command)


def _spec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in (
        click.option(
            "--jupyter/--no-jupyter", "jupyter", default=None, help="add (or remove) Jupyter support"
        ),
        click.option(
            "--core-packages/--no-core-packages",
            "core",
            default=None,
            help="install (or not) the core packages",
        ),
        click.option("--requirements", "-r", metavar="FILE", help="the spec from a requirements file"),
        click.option(
            "--package",
            "-p",
            "packages",
            multiple=True,
            metavar="REQUIREMENT",
            help="a requirement (repeat); replaces the spec",
        ),
    ):
        command = decorator(command)
    return command


def _spec(packages: tuple[str, ...], requirements: str | None) -> str | None:
    lines: list[str] = list(packages)
    if requirements:
        try:
            lines += Path(requirements).read_text().splitlines()
        except OSError as exc:
            raise CommandError(f"cannot read {requirements}: {exc.strerror or exc}", 2) from None
    return "\n".join(lines) if (packages or requirements) else None


def _finish(answer: Any, label: str, no_wait: bool) -> int:
    if isinstance(answer, DSSFuture) and no_wait:
        click.echo(answer.job_id)
        return 0
    report = wait_with_progress(answer, label) if isinstance(answer, DSSFuture) else answer
    messages = (report.get("messages") or {}).get("messages") or []
    for message in messages:
        click.echo(f"{message.get('severity', 'INFO')}: {message.get('message', '')}")
    if (report.get("messages") or {}).get("error"):
        raise CommandError(f"{label} failed")
    return 0


@code_envs.command("list")
@json_option
@with_client
def list_envs(client: DSSClient, as_json: bool) -> int:
    """The code envs you may use."""
    envs = client.list_code_envs()
    rows = [
        {
            **e,
            "python": e.get("pythonVersion") or e.get("pythonInterpreter") or "",
            "jupyter": bool(e.get("jupyterKernel")),
        }
        for e in envs
    ]
    columns = [("NAME", "envName"), ("LANG", "envLang"), ("MODE", "deploymentMode"), ("PYTHON", "python")]
    columns += [("STATE", "state"), ("OWNER", "owner"), ("JUPYTER", "jupyter")]
    show(rows, columns, as_json=as_json, raw=envs)
    return 0


@code_envs.command("create")
@_common
@click.option("--python", metavar="PYTHON3XX", help="interpreter, e.g. PYTHON311 (default: the server's)")
@click.option("--path", help="register the existing env at this path (DESIGN_NON_MANAGED, admins)")
@_spec_options
@with_client
def create_env(
    client: DSSClient,
    name: str,
    lang: str,
    no_wait: bool,
    python: str | None,
    path: str | None,
    packages: tuple[str, ...],
    requirements: str | None,
    core: bool | None,
    jupyter: bool | None,
) -> int:
    """Build a new env (or register an existing one with --path)."""
    params: dict[str, Any] = {}
    if python:
        params["pythonInterpreter"] = python
    if path:
        params["path"] = path
    spec = _spec(packages, requirements)
    if spec is not None:
        params["specPackageList"] = spec
    if core is not None:
        params["installCorePackages"] = core
    if jupyter is not None:
        params["installJupyterSupport"] = jupyter
    mode = "DESIGN_NON_MANAGED" if path else "DESIGN_MANAGED"
    future = client.create_code_env(lang, name, mode, params, wait=False)
    return _finish(future, f"create {name}", no_wait)


@code_envs.command("update")
@_common
@_spec_options
@click.option("--rebuild", is_flag=True, help="rebuild the env from scratch")
@with_client
def update_env(
    client: DSSClient,
    name: str,
    lang: str,
    no_wait: bool,
    packages: tuple[str, ...],
    requirements: str | None,
    core: bool | None,
    jupyter: bool | None,
    rebuild: bool,
) -> int:
    """Change an env's packages and make it match its spec."""
    env = client.get_code_env(lang, name)
    spec = _spec(packages, requirements)
    if spec is not None or core is not None or jupyter is not None:
        settings = env.get_settings()
        if spec is not None:
            settings.settings["specPackageList"] = spec
        if core is not None:
            settings.settings["desc"]["installCorePackages"] = core
        if jupyter is not None:
            settings.settings["desc"]["installJupyterSupport"] = jupyter
        settings.save()
    future = env.update_packages(force_rebuild_env=rebuild, wait=False)
    return _finish(future, f"update {name}", no_wait)


@code_envs.command("delete")
@_common
@click.option("--force", is_flag=True, help="delete even if projects or notebooks use it")
@with_client
def delete_env(client: DSSClient, name: str, lang: str, no_wait: bool, force: bool) -> int:
    """Delete an env, its kernelspec and its logs."""
    future = client.get_code_env(lang, name).delete(wait=False, force=force)
    return _finish(future, f"delete {name}", no_wait)
