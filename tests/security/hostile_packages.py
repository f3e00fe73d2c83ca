"""Packages whose build backend plays the hostile user: an sdist with an in-tree backend
(`backend-path = ["."]`) that runs the test's code when a build asks for its wheel, then
writes a minimal wheel so the build goes on. Served from the admin's find-links folder."""

from __future__ import annotations

from pathlib import Path

from tests.codeenvs.wheelhouse import write_sdist

# Appended to each backend's source: `return _write_wheel(wheel_directory, "lkname")`.
WRITE_WHEEL = """

def _write_wheel(wheel_directory, dist):
    import base64, hashlib, os, zipfile
    name = dist + "-1.0-py3-none-any.whl"
    info = dist + "-1.0.dist-info/"
    files = {
        dist + "/__init__.py": b"",
        info + "METADATA": ("Metadata-Version: 2.1\\nName: %s\\nVersion: 1.0\\n" % dist).encode(),
        info + "WHEEL": b"Wheel-Version: 1.0\\nGenerator: labkeeper-tests\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n",
    }
    def digest(data):
        return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = "".join("%s,%s,%d\\n" % (path, digest(data), len(data)) for path, data in files.items())
    record += info + "RECORD,,\\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(info + "RECORD", record)
    return name
"""


def make_backend_sdist(dest: Path, dist: str, backend_source: str) -> Path:
    """`dest/<dist>-1.0.tar.gz`, whose build backend is `backend_source` (plus WRITE_WHEEL)."""
    module = f"{dist}_backend"
    files = {
        "pyproject.toml": f'[project]\nname = "{dist}"\nversion = "1.0"\n\n[build-system]\nrequires = []\n'
        f'build-backend = "{module}"\nbackend-path = ["."]\n',
        f"{module}.py": backend_source + WRITE_WHEEL,
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n",
    }
    return write_sdist(dest, dist, files)
