"""`labkeeper` command line: `serve` runs an instance; admin commands talk to one over HTTP.

Commands are click commands; `serve`, `futures` and `code-envs` keep their argparse parsers
(and so their options, output and exit codes) behind a click command that hands them the
arguments. Shell completion: `labkeeper completion bash|zsh|fish` prints the script to
source."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import click
from click.shell_completion import get_completion_class

from labkeeper.cli import accounts, instance, workspace

# Modules whose argparse subcommands keep working through `register(subparsers)`.
ARGPARSE_MODULES: dict[str, str] = {
    "serve": "labkeeper.cli.serve",
    "futures": "labkeeper.cli.futures",
    "code-envs": "labkeeper.cli.codeenvs",
    "worker": "labkeeper.cli.worker",
    "nodes": "labkeeper.cli.nodes",
}
COMPLETE_VAR = "_LABKEEPER_COMPLETE"


def build_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkeeper")
    subparsers = parser.add_subparsers(dest="command", required=True)
    importlib.import_module(ARGPARSE_MODULES[name]).register(subparsers)
    return parser


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """labkeeper: run an instance (serve) or administer one (LABKEEPER_URL and
    LABKEEPER_API_KEY, or ~/.config/labkeeper/client.json)."""


def _argparse_command(name: str) -> None:
    @cli.command(
        name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=f"labkeeper {name} --help for its options",
    )
    @click.pass_context
    def command(ctx: click.Context) -> int:
        args = build_parser(name).parse_args([name, *ctx.args])
        return int(args.handler(args) or 0)


for _name in ARGPARSE_MODULES:
    _argparse_command(_name)
for _group in (
    workspace.notebooks,
    workspace.sessions,
    workspace.projects,
    accounts.keys,
    accounts.users,
    instance.settings,
    instance.variables,
    instance.audit,
):
    cli.add_command(_group)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the completion script: eval "$(labkeeper completion bash)"."""
    complete = get_completion_class(shell)
    assert complete is not None
    click.echo(complete(cli, {}, "labkeeper", COMPLETE_VAR).source())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="labkeeper", standalone_mode=False
        )
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("labkeeper: interrupted", err=True)
        return 130
    except SystemExit as done:  # argparse: usage errors and --help
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
