"""`labkeeper` command line: `serve` runs an instance; admin commands talk to one over HTTP.

Every command is a click command. Exit codes: 0 done, 1 refused or failed, 2 usage (a wrong
option, no instance configured), 130 interrupted. Shell completion: `labkeeper completion
bash|zsh|fish` prints the script to source."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from click.shell_completion import get_completion_class

from labkeeper.cli import accounts, instance, workspace
from labkeeper.cli.codeenvs import code_envs
from labkeeper.cli.futures import futures
from labkeeper.cli.nodes import nodes
from labkeeper.cli.serve import serve
from labkeeper.cli.worker import worker

COMPLETE_VAR = "_LABKEEPER_COMPLETE"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """labkeeper: run an instance (serve) or administer one (LABKEEPER_URL and
    LABKEEPER_API_KEY, or ~/.config/labkeeper/client.json)."""


for _command in (
    serve,
    worker,
    nodes,
    futures,
    code_envs,
    workspace.notebooks,
    workspace.sessions,
    workspace.projects,
    accounts.keys,
    accounts.users,
    instance.settings,
    instance.variables,
    instance.audit,
):
    cli.add_command(_command)


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
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
