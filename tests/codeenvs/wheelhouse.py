"""A local wheelhouse for code env tests: small packages written here, a slow-building
sdist, and (downloaded once, then cached by pytest) tabulate, nameparser and the Jupyter
support packages with their dependencies for the interpreters the tests use."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import tarfile
import textwrap
import zipfile
from pathlib import Path

# name -> (version, requirements, module source)
LOCAL_PACKAGES = {
    "lkcore": ("1.0", [], "CORE = True\n"),
    "lkdemo-a": ("1.0", [], "def hello():\n    return 'a'\n"),
    "lkdemo-b": (
        "2.0",
        ["lkdemo-a>=1.0"],
        "import lkdemo_a\n\ndef hello():\n    return 'b' + lkdemo_a.hello()\n",
    ),
    "lkdemo-c": ("0.5", [], "VALUE = 42\n"),
}
DOWNLOADED = ["tabulate", "nameparser", "ipykernel", "httpx"]
DOWNLOAD_PYTHONS = ["3.10", "3.11"]
# Separate sdists: uv serialises concurrent builds of one source distribution.
SLEEPY_NAMES = ("lksleepy", "lksleepy-two", "lksleepy-three")
MARKER_VARIABLE = "LK_SLEEPY_MARKER_DIR"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(dest: Path, name: str, version: str, requires: list[str], source: str) -> Path:
    module = name.replace("-", "_")
    dist = f"{module}-{version}"
    files = {
        f"{module}/__init__.py": source.encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: labkeeper-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist}.dist-info/RECORD,,\n"
    path = dest / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name_in_zip, data in files.items():
            wheel.writestr(name_in_zip, data)
        wheel.writestr(f"{dist}.dist-info/RECORD", record)
    return path


SLEEPY_BACKEND = textwrap.dedent(
    f"""
    # A build backend whose wheel build never ends: it marks that it runs, then sleeps. Builds
    # get a clean environment: the marker goes to the build's own HOME unless told otherwise.
    import os, pathlib, subprocess, time

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        marker_dir = os.environ.get("{MARKER_VARIABLE}") or os.environ.get("HOME")
        child = subprocess.Popen(["sleep", "600"])  # a grandchild too: the whole tree must go
        if marker_dir:  # written whole, then renamed: a reader never sees it empty
            partial = pathlib.Path(marker_dir, ".partial-%d" % os.getpid())
            partial.write_text(str(child.pid))
            os.replace(partial, pathlib.Path(marker_dir, "building-%d" % os.getpid()))
        time.sleep(600)
        raise RuntimeError("unreachable")
    """
)


def make_sleepy_sdist(dest: Path, name: str) -> Path:
    files = {
        "pyproject.toml": (
            f'[project]\nname = "{name}"\nversion = "1.0"\n\n[build-system]\nrequires = []\n'
            'build-backend = "sleepy_backend"\nbackend-path = ["."]\n'
        ),
        "sleepy_backend.py": SLEEPY_BACKEND,
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    return write_sdist(dest, name, files)


def write_sdist(dest: Path, name: str, files: dict[str, str]) -> Path:
    """`dest/<name>-1.0.tar.gz` holding `files` (path in the sdist -> text)."""
    base = name.replace("-", "_")
    path = dest / f"{base}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as sdist:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}-1.0/{member}")
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))
    return path


def download(dest: Path, packages: list[str], python_version: str) -> None:
    """pip download from PyPI itself, with the machine's pip configuration switched off; run
    by the target interpreter, so that environment markers are evaluated for its version."""
    from labkeeper.codeenvs.interpreters import available

    python = available()[f"PYTHON3{python_version.split('.')[1]}"].path
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run(  # noqa: S603 - fixed argv
        [
            python,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--index-url=https://pypi.org/simple",
            "--only-binary=:all:",
            f"--python-version={python_version}",
            f"--dest={dest}",
            *packages,
        ],
        env=env,
        check=True,
        timeout=600,
    )


def build(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    done = dest / ".complete"
    for name, (version, requires, source) in LOCAL_PACKAGES.items():
        make_wheel(dest, name, version, requires, source)
    for name in SLEEPY_NAMES:
        make_sleepy_sdist(dest, name)
    if not done.exists():
        for version in DOWNLOAD_PYTHONS:
            download(dest, DOWNLOADED, version)
        done.write_text("ok")
    return dest
