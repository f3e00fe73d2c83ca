"""One command line: every command is a click command, so each completes in a shell, says
what is wrong with its usage and exits 2 for it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labkeeper.cli.main import main


def _complete(words: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "labkeeper.cli.main"],
        env={
            **os.environ,
            "_LABKEEPER_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.split(",", 1)[-1] for line in done.stdout.splitlines()]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("labkeeper code-envs cr", "create"),
        ("labkeeper futures ab", "abort"),
        ("labkeeper nodes und", "undrain"),
        ("labkeeper serve --graceful", "--graceful-timeout"),
        ("labkeeper worker --imp", "--import"),
        ("labkeeper code-envs create --no-core", "--no-core-packages"),
    ],
)
def test_every_command_completes(words: str, expected: str) -> None:
    assert expected in _complete(words)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["serve", "--port", "eleven"], "'eleven' is not a valid integer"),
        (["serve", "--log-format", "xml"], "'xml' is not one of"),
        (["worker", "--import"], "requires an argument"),
        (["futures", "list", "--everyone"], "No such option"),
        (["futures", "status"], "Missing argument"),
        (["code-envs", "create"], "Missing argument"),
        (["code-envs", "delete", "x", "--lang", "JULIA"], "'JULIA' is not one of"),
        (["nodes", "drain"], "Missing argument"),
    ],
)
def test_a_usage_error_says_what_is_wrong_and_exits_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKEEPER_URL", "http://127.0.0.1:9")  # never reached: usage comes first
    monkeypatch.setenv("LABKEEPER_API_KEY", "unused")
    assert main(argv) == 2
    assert words in capsys.readouterr().err
