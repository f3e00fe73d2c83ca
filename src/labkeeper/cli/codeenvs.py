"""`labkeeper code-envs list|create|update|delete`: an instance's code envs, with a progress
bar while a build runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from labkeeper.cli._remote import CommandError, print_json, print_table, run_command, wait_with_progress
from labkeeper.client import DSSClient, DSSFuture


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "code-envs", help="list, create, update and delete code envs of an instance"
    )
    commands = parser.add_subparsers(dest="codeenvs_command", required=True)

    listing = commands.add_parser("list", help="the code envs you may use")
    listing.add_argument("--json", action="store_true", help="print the raw list")
    listing.set_defaults(handler=lambda args: run_command(lambda c: list_envs(c, args)))

    create = commands.add_parser("create", help="build a new env (or register an existing one with --path)")
    _common(create)
    create.add_argument(
        "--python", metavar="PYTHON3XX", help="interpreter, e.g. PYTHON311 (default: the server's)"
    )
    create.add_argument("--path", help="register the existing env at this path (DESIGN_NON_MANAGED, admins)")
    _spec_options(create)
    create.set_defaults(handler=lambda args: run_command(lambda c: create_env(c, args)))

    update = commands.add_parser("update", help="change an env's packages and make it match its spec")
    _common(update)
    _spec_options(update)
    update.add_argument("--rebuild", action="store_true", help="rebuild the env from scratch")
    update.set_defaults(handler=lambda args: run_command(lambda c: update_env(c, args)))

    delete = commands.add_parser("delete", help="delete an env, its kernelspec and its logs")
    _common(delete)
    delete.add_argument("--force", action="store_true", help="delete even if projects or notebooks use it")
    delete.set_defaults(handler=lambda args: run_command(lambda c: delete_env(c, args)))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the env's name")
    parser.add_argument("--lang", default="PYTHON", choices=["PYTHON", "R"], help="default PYTHON")
    parser.add_argument("--no-wait", action="store_true", help="print the future's id and return at once")


def _spec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--package",
        "-p",
        action="append",
        metavar="REQUIREMENT",
        help="a requirement (repeat); replaces the spec",
    )
    parser.add_argument("--requirements", "-r", metavar="FILE", help="the spec from a requirements file")
    core = parser.add_mutually_exclusive_group()
    core.add_argument(
        "--core-packages", dest="core", action="store_true", default=None, help="install core packages"
    )
    core.add_argument(
        "--no-core-packages", dest="core", action="store_false", help="do not install core packages"
    )
    jupyter = parser.add_mutually_exclusive_group()
    jupyter.add_argument(
        "--jupyter", dest="jupyter", action="store_true", default=None, help="add Jupyter support"
    )
    jupyter.add_argument("--no-jupyter", dest="jupyter", action="store_false", help="remove Jupyter support")


def _spec(args: argparse.Namespace) -> str | None:
    lines: list[str] = list(args.package or [])
    if args.requirements:
        try:
            lines += Path(args.requirements).read_text().splitlines()
        except OSError as exc:
            raise CommandError(f"cannot read {args.requirements}: {exc.strerror or exc}", 2) from None
    return "\n".join(lines) if (args.package or args.requirements) else None


def _finish(client: DSSClient, answer: Any, label: str, args: argparse.Namespace) -> int:
    if isinstance(answer, DSSFuture) and args.no_wait:
        print(answer.job_id)
        return 0
    report = wait_with_progress(answer, label) if isinstance(answer, DSSFuture) else answer
    messages = (report.get("messages") or {}).get("messages") or []
    for message in messages:
        print(f"{message.get('severity', 'INFO')}: {message.get('message', '')}")
    if (report.get("messages") or {}).get("error"):
        raise CommandError(f"{label} failed")
    return 0


def list_envs(client: DSSClient, args: argparse.Namespace) -> int:
    envs = client.list_code_envs()
    if args.json:
        print_json(envs)
        return 0
    rows = [
        [
            e["envName"],
            e["envLang"],
            e["deploymentMode"],
            e.get("pythonVersion") or e.get("pythonInterpreter") or "",
            e.get("state", ""),
            e.get("owner", ""),
            "yes" if e.get("jupyterKernel") else "no",
        ]
        for e in envs
    ]
    print_table(["NAME", "LANG", "MODE", "PYTHON", "STATE", "OWNER", "JUPYTER"], rows)
    return 0


def create_env(client: DSSClient, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    if args.python:
        params["pythonInterpreter"] = args.python
    if args.path:
        params["path"] = args.path
    spec = _spec(args)
    if spec is not None:
        params["specPackageList"] = spec
    if args.core is not None:
        params["installCorePackages"] = args.core
    if args.jupyter is not None:
        params["installJupyterSupport"] = args.jupyter
    mode = "DESIGN_NON_MANAGED" if args.path else "DESIGN_MANAGED"
    future = client.create_code_env(args.lang, args.name, mode, params, wait=False)
    return _finish(client, future, f"create {args.name}", args)


def update_env(client: DSSClient, args: argparse.Namespace) -> int:
    env = client.get_code_env(args.lang, args.name)
    spec = _spec(args)
    if spec is not None or args.core is not None or args.jupyter is not None:
        settings = env.get_settings()
        if spec is not None:
            settings.settings["specPackageList"] = spec
        if args.core is not None:
            settings.settings["desc"]["installCorePackages"] = args.core
        if args.jupyter is not None:
            settings.settings["desc"]["installJupyterSupport"] = args.jupyter
        settings.save()
    future = env.update_packages(force_rebuild_env=args.rebuild, wait=False)
    return _finish(client, future, f"update {args.name}", args)


def delete_env(client: DSSClient, args: argparse.Namespace) -> int:
    future = client.get_code_env(args.lang, args.name).delete(wait=False, force=args.force)
    return _finish(client, future, f"delete {args.name}", args)
