"""The README's quick start runs as written against a live labkeeper: its Python blocks are
taken from README.md and run, in order, in one fresh interpreter (only the address is the
test server's)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"
WRITTEN_ADDRESS = "http://127.0.0.1:11200"


def quick_start_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_quick_start_has_the_blocks_it_describes() -> None:
    blocks = quick_start_blocks()
    assert len(blocks) == 2
    assert "import dataikuapi" in blocks[0] and "from labkeeper.client import" in blocks[1]
    assert all(WRITTEN_ADDRESS in block for block in blocks)


def test_the_quick_start_runs_as_written(live: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "labkeeper-data").symlink_to(live.config.data_dir)  # where `run.py serve` keeps it
    script = "\n".join(quick_start_blocks()).replace(WRITTEN_ADDRESS, live.url)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "'SALES'" in done.stdout
    assert "u_carol" in done.stdout  # the impersonation rule the first block saved
