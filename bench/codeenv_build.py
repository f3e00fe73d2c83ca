"""Code env builds: an env with 15 packages from a local wheelhouse created through a real
`labkeeper serve` (one `create_code_env(..., wait=True)` call), against raw `uv venv` +
`uv pip install` and against `python -m venv` + `pip install` of the same packages, in one
run; then the latency of 20 aborts of a build that really runs.

    .venv/bin/python bench/codeenv_build.py [--runs 7] [--pip-runs 3] [--aborts 20]

Targets: labkeeper at most 1.25x raw uv installing by copy as labkeeper does (its builds
set UV_LINK_MODE=copy, see codeenvs/sandbox.py; raw uv with its default hard links is
shown beside it), at least 10x faster than venv + pip; abort under 1 s (p50 and max). Every
variant installs the same 15 wheels, offline, with bytecode compiled (uv: --compile-bytecode;
pip compiles by default), into a fresh env, caches warm.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))

from _harness import BENCH_KEY, LabkeeperServer  # noqa: E402
from tests.codeenvs.wheelhouse import make_sleepy_sdist  # noqa: E402
from uv import find_uv_bin  # noqa: E402

from labkeeper.client import DSSClient  # noqa: E402
from labkeeper.codeenvs.interpreters import available  # noqa: E402

# 15 small pure-python distributions with no dependencies outside the set.
PACKAGES = [
    "attrs",
    "certifi",
    "click",
    "idna",
    "iniconfig",
    "more-itertools",
    "nameparser",
    "packaging",
    "pluggy",
    "pyparsing",
    "pytz",
    "six",
    "tabulate",
    "toolz",
    "typing-extensions",
]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labkeeper-bench"
if os.geteuid() == 0:  # builds run as an unprivileged account: the wheelhouse must be readable
    CACHE = Path(tempfile.gettempdir()) / "labkeeper-bench-cache"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # the machine's pip configuration stays out
    env.update(extra)
    return env


def wheelhouse(python: str) -> Path:
    folder = CACHE / "wheelhouse-15"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--index-url=https://pypi.org/simple", f"--dest={folder}", *PACKAGES],
            env=clean_env(),
            check=True,
        )  # fmt: skip
        (folder / ".complete").write_text("ok")
    return folder


def timed(commands: list[list[str]], env: dict[str, str]) -> float:
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def raw_uv(python: str, wheels: Path, target: Path, cache: Path, link_mode: str = "hardlink") -> float:
    uv = find_uv_bin()
    env = clean_env(UV_CACHE_DIR=str(cache), UV_LINK_MODE=link_mode)
    return timed(
        [
            [uv, "venv", "--no-config", "--quiet", f"--python={python}", str(target)],
            [uv, "pip", "install", "--no-config", "--quiet", "--compile-bytecode",
             f"--python={target}/bin/python", "--offline", "--no-index", f"--find-links={wheels}", *PACKAGES],
        ],
        env,
    )  # fmt: skip


def venv_pip(python: str, wheels: Path, target: Path) -> float:
    return timed(
        [
            [python, "-m", "venv", str(target)],
            [f"{target}/bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-index", f"--find-links={wheels}", *PACKAGES],
        ],
        clean_env(),
    )  # fmt: skip


def labkeeper_build(client: DSSClient, name: str) -> float:
    started = time.perf_counter()
    client.create_code_env(
        "PYTHON",
        name,
        "DESIGN_MANAGED",
        {"pythonInterpreter": "PYTHON311", "specPackageList": "\n".join(PACKAGES)},
    )
    elapsed = time.perf_counter() - started
    assert client.get_code_env("PYTHON", name).get_definition()["state"] == "READY"
    return elapsed


def _row(label: str, times: list[float]) -> str:
    return f"  {label:<38} {statistics.median(times):6.3f} s  (min {min(times):.3f}, max {max(times):.3f})"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def abort_latency(client: DSSClient, markers: Path, index: int) -> tuple[float, float]:
    """Seconds from the abort call until (the future says aborted, the build's processes are gone)."""
    future = client.create_code_env(
        "PYTHON", f"abort{index}", "DESIGN_MANAGED", {"specPackageList": "lksleepy"}, wait=False
    )
    deadline = time.monotonic() + 60
    while not list(markers.glob("run/builds/*/building-*")):
        if time.monotonic() > deadline:
            raise RuntimeError("the sleepy build did not start")
        time.sleep(0.01)
    [marker] = list(markers.glob("run/builds/*/building-*"))
    pids = [int(marker.name.split("-")[1]), int(marker.read_text())]
    backend = psutil.Process(pids[0])
    pids += [p.pid for p in backend.parents() if "uv" in p.name()]
    started = time.perf_counter()
    future.abort()
    while future.peek_state().get("alive"):
        time.sleep(0.005)
    state_latency = time.perf_counter() - started
    while any(alive(pid) for pid in pids):
        time.sleep(0.005)
    gone_latency = time.perf_counter() - started
    marker.unlink(missing_ok=True)  # the build removes its HOME when it ends
    client.get_code_env("PYTHON", f"abort{index}").delete()
    return state_latency, gone_latency


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pip-runs", type=int, default=3)
    parser.add_argument("--aborts", type=int, default=20)
    args = parser.parse_args()

    python = available()["PYTHON311"].path
    wheels = wheelhouse(python)
    make_sleepy_sdist(wheels, "lksleepy")
    scratch = Path(tempfile.mkdtemp(prefix="labkeeper-bench-envs-"))
    server = LabkeeperServer()
    markers = server.data_dir / "data"  # each sleepy build marks its own HOME in there
    client = DSSClient(server.url, BENCH_KEY)
    try:
        settings = client.get_general_settings()
        settings.get_raw()["codeEnvs"]["packageIndex"] = {
            "indexUrl": None,
            "extraIndexUrls": [],
            "findLinks": [str(wheels)],
            "offline": True,
        }
        settings.save()
        uv_cache = scratch / "uv-cache"
        # Warm both uv caches and the server once.
        raw_uv(python, wheels, scratch / "warm-uv", uv_cache)
        labkeeper_build(client, "warm")

        lk_times, copy_times, uv_times, pip_times = [], [], [], []
        for run in range(args.runs):
            lk_times.append(labkeeper_build(client, f"env{run}"))
            copy_times.append(raw_uv(python, wheels, scratch / f"uvcopy{run}", uv_cache, "copy"))
            uv_times.append(raw_uv(python, wheels, scratch / f"uv{run}", uv_cache))
        for run in range(args.pip_runs):
            pip_times.append(venv_pip(python, wheels, scratch / f"pip{run}"))
        lk, copy, uv, pip = (statistics.median(t) for t in (lk_times, copy_times, uv_times, pip_times))
        lines = [
            f"15 packages, local wheelhouse, bytecode compiled; medians of {args.runs} runs "
            f"({args.pip_runs} for pip)",
            _row("labkeeper create_code_env(wait=True):", lk_times),
            _row("raw uv, UV_LINK_MODE=copy:", copy_times),
            _row("raw uv, hard links (uv's default):", uv_times),
            _row("python -m venv + pip install:", pip_times),
            f"  labkeeper / raw uv copy:      {lk / copy:5.2f}x   (target <= 1.25x)",
            f"  labkeeper / raw uv hardlink:  {lk / uv:5.2f}x",
            f"  venv+pip / labkeeper:         {pip / lk:5.2f}x   (target >= 10x)",
            f"  venv+pip / raw uv hardlink:   {pip / uv:5.2f}x   (what uv alone shows here)",
        ]
        print("\n".join(lines), flush=True)

        latencies = [abort_latency(client, markers, i) for i in range(args.aborts)]
        states = sorted(s for s, _ in latencies)
        gone = sorted(g for _, g in latencies)
        print(
            f"abort of a running build, {args.aborts} aborts (abort call -> future aborted / processes gone)"
        )
        for label, values in (("future aborted", states), ("processes gone", gone)):
            p50, top = statistics.median(values) * 1000, values[-1] * 1000
            print(f"  {label}: p50 {p50:6.1f} ms, max {top:6.1f} ms")
        print("  target: under 1 s")
    finally:
        client.close()
        server.close()
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


if __name__ == "__main__":
    main()
