"""Project archives: export and import of a project with many Jupyter notebooks, on a real
`labkeeper serve`, against zipping and unzipping the same files in-process (the baseline:
the compression and file work alone, no HTTP, no checks).

    .venv/bin/python bench/project_archives.py [--notebooks 1000] [--kib 50]

Prints wall time and the server's peak RSS growth (sampled every 10 ms, the server process
and its children) for each step; the target is a streamed export and import whose RSS
grows by less than 100 MB.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import LabkeeperServer  # noqa: E402


def notebook(size: int, rng: random.Random) -> bytes:
    """An nbformat 4 notebook of about `size` bytes: code cells of varied text."""
    cells, total = [], 0
    while total < size:
        source = "".join(rng.choice(string.ascii_letters + " \n=()+") for _ in range(2000))
        cells.append(
            {
                "id": f"c{len(cells)}",
                "cell_type": "code",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
        )
        total += len(source) + 80
    doc = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": cells,
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


class PeakRss:
    """The largest RSS of a process and its children while the block runs, less the start."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.start = self._rss()
        self._stop = threading.Event()

    def _rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self.start = self._rss()
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / (1024 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=1000)
    parser.add_argument("--kib", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(7)
    server = LabkeeperServer()
    work = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    try:
        api = server.api
        assert api.post("/projects/", json={"projectKey": "BIG", "name": "Big"}).status_code < 300
        folder = server.data_dir / "data" / "projects" / "BIG" / "jupyter"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(args.notebooks):  # written as files: the setup is not what is measured
            (folder / f"nb{i:05d}.ipynb").write_bytes(notebook(args.kib * 1024, rng))
        raw_bytes = sum(p.stat().st_size for p in folder.iterdir())

        archive = work / "big.zip"
        with PeakRss(server.proc.pid) as export_rss:
            began = time.perf_counter()
            with api.stream("POST", "/projects/BIG/export", json={}) as answer, open(archive, "wb") as out:
                answer.raise_for_status()
                for chunk in answer.iter_bytes(65536):
                    out.write(chunk)
            export_s = time.perf_counter() - began

        with PeakRss(server.proc.pid) as import_rss:
            began = time.perf_counter()
            with open(archive, "rb") as f:
                uploaded = api.post("/projects/import/upload", files={"file": ("big.zip", f)})
            uploaded.raise_for_status()
            done = api.post(
                f"/projects/import/{uploaded.json()['id']}/process", json={"targetProjectKey": "BIG2"}
            )
            done.raise_for_status()
            import_s = time.perf_counter() - began
        copied = server.data_dir / "data" / "projects" / "BIG2" / "jupyter"
        assert len(list(copied.iterdir())) == args.notebooks

        began = time.perf_counter()
        baseline_zip = work / "baseline.zip"
        with zipfile.ZipFile(baseline_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for path in sorted(folder.iterdir()):
                z.write(path, f"jupyter/{path.name}")
        zip_s = time.perf_counter() - began
        began = time.perf_counter()
        with zipfile.ZipFile(baseline_zip) as z:
            z.extractall(work / "unzipped")
        unzip_s = time.perf_counter() - began
    finally:
        server.close()

    mib = raw_bytes / (1024 * 1024)
    print(
        f"{args.notebooks} notebooks, {mib:.1f} MiB of notebook files, "
        f"archive {archive.stat().st_size / 1048576:.1f} MiB"
    )
    print(f"{'step':<10} {'labkeeper':>10} {'baseline':>10} {'ratio':>6} {'server RSS growth':>18}")
    for step, took, base, rss in (
        ("export", export_s, zip_s, export_rss),
        ("import", import_s, unzip_s, import_rss),
    ):
        print(f"{step:<10} {took:>9.2f}s {base:>9.2f}s {took / base:>6.2f} {rss.growth_mib:>15.1f} MiB")


if __name__ == "__main__":
    main()
