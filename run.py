"""One entry point for a fresh clone: `python3 run.py serve` or `python3 run.py test`.

It creates `.venv` with this interpreter, installs the locked dependencies and labkeeper
itself (once, again only when `requirements.lock` or `pyproject.toml` change), then runs
`labkeeper serve ...` or `pytest ...` inside it. Extra arguments are passed through.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".labkeeper-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _ensure_venv() -> Path:
    if not (3, 11) <= sys.version_info[:2] <= (3, 13):
        sys.exit(f"labkeeper needs Python 3.11, 3.12 or 3.13; this is {sys.version.split()[0]}")
    python = VENV / "bin" / "python"
    wanted = _fingerprint()
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(ROOT / "requirements.lock")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"serve", "test"}:
        print("usage: python3 run.py serve [labkeeper serve options] | test [pytest options]")
        return 2
    python = _ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "serve":
        args = [str(VENV / "bin" / "labkeeper"), "serve", *rest]
    else:
        args = [str(python), "-m", "pytest", *rest]
    os.execv(args[0], args)
    return 0  # unreachable: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
