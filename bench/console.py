"""The web console's pages: time to answer each one on a loaded instance, against the API
route that serves the same data as JSON (the baseline), in the same run.

    .venv/bin/python bench/console.py [--projects 100] [--notebooks 10] [--sessions 20]
                                      [--audit-rows 10000] [--rounds 20]

A real `labkeeper serve` (SQLite) with 100 projects x 10 notebooks, 20 live kernels and
10,000 audit rows; signed in as the admin (who sees everything, the largest pages). Each
page and its API counterpart are requested alternately over one keep-alive connection on
loopback, `--rounds` times after a warm-up; the time is the client's wall time per request
(an upper bound of the server's). Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import BENCH_KEY, LabkeeperServer  # noqa: E402
from bench.notebooks import NOTEBOOK  # noqa: E402

PASSWORD = "bench console password"
TARGET_MS = 300.0
# (console page, the API route that answers the same data)
PAIRS = [
    ("/notebooks", "/admin/notebooks/"),
    ("/notebooks/table", "/admin/notebooks/"),
    ("/tasks", "/futures/?allUsers=true"),
    ("/code-envs", "/admin/code-envs/usages"),
    ("/projects", "/projects/"),
    ("/projects/LIST007", "/projects/LIST007/jupyter-notebooks/"),
    ("/keys", "/personal-api-keys/"),
    ("/users", "/admin/users/"),
    ("/settings", "/admin/general-settings"),
    ("/audit", "/admin/audit?limit=50"),
    ("/audit?outcome=error&action=custom", "/admin/audit?limit=50"),
]


def seed(server: LabkeeperServer, projects: int, notebooks: int, sessions: int, audit_rows: int) -> None:
    api = server.api
    for p in range(projects):
        key = f"LIST{p:03d}"
        assert api.post("/projects/", json={"projectKey": key, "name": f"Project {p}"}).status_code == 200
        for n in range(notebooks):
            assert api.post(f"/projects/{key}/jupyter-notebooks/nb{n:02d}", json=NOTEBOOK).status_code == 200
    settings = api.get("/admin/general-settings").json()
    settings["notebooks"]["maxSessionsPerUser"] = sessions + 10
    assert api.put("/admin/general-settings", json=settings).status_code == 204
    for s in range(sessions):
        key = f"LIST{(s * 7) % projects:03d}"
        answer = api.post(f"/projects/{key}/jupyter-notebooks/nb{s % notebooks:02d}/sessions")
        assert answer.status_code == 200, answer.text
    _audit_rows(server, audit_rows)
    assert api.put("/admin/users/admin", json={"login": "admin", "password": PASSWORD}).status_code == 200


def _audit_rows(server: LabkeeperServer, count: int) -> None:
    """Rows written straight in the store (as many API calls would write them)."""
    from labkeeper.audit.models import AuditEvent
    from labkeeper.db import Store, now_ms

    store = Store(f"sqlite:///{server.data_dir / 'data' / 'labkeeper.db'}")
    now = now_ms()
    try:
        with store.begin() as s:
            s.add_all(
                AuditEvent(
                    time=now - i * 1000,
                    user=f"user{i % 50}",
                    api_key_id=f"key{i % 80}",
                    action=f"POST /custom/action{i % 30}",
                    target=f"LIST{i % 100:03d}/nb{i % 10:02d}",
                    outcome="success" if i % 7 else "error 403",
                    details={},
                    request_id=f"{i:016x}",
                )
                for i in range(count)
            )
    finally:
        store.dispose()


def timed(client: httpx.Client, path: str) -> float:
    began = time.perf_counter()
    answer = client.get(path)
    elapsed = time.perf_counter() - began
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--notebooks", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--audit-rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    server = LabkeeperServer()
    try:
        began = time.perf_counter()
        seed(server, args.projects, args.notebooks, args.sessions, args.audit_rows)
        print(
            f"seeded {args.projects} projects x {args.notebooks} notebooks, {args.sessions} live sessions, "
            f"{args.audit_rows} audit rows in {time.perf_counter() - began:.0f} s"
        )
        console = httpx.Client(base_url=server.url, timeout=60, follow_redirects=True)
        signed = console.post("/login", data={"login": "admin", "password": PASSWORD})
        assert signed.status_code == 200 and "Running notebooks" in signed.text, signed.status_code
        api = httpx.Client(base_url=server.url + "/dip/publicapi", auth=(BENCH_KEY, ""), timeout=60)
        print(f"{'console page':40} {'median':>8} {'p90':>8} | {'API baseline':38} {'median':>8} | ratio")
        worst = 0.0
        for page, baseline in PAIRS:
            for _ in range(3):  # warm-up: connections, caches
                timed(console, page)
                timed(api, baseline)
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(timed(console, page))
                theirs.append(timed(api, baseline))
            median, p90 = statistics.median(ours), statistics.quantiles(ours, n=10)[-1]
            base = statistics.median(theirs)
            worst = max(worst, p90)
            verdict = "ok" if p90 < TARGET_MS else "OVER"
            print(
                f"{page:40} {median:7.1f}ms {p90:7.1f}ms | {baseline:38} {base:7.1f}ms | "
                f"{median / base:5.2f}x {verdict}"
            )
        print(f"slowest page p90: {worst:.1f} ms (target < {TARGET_MS:.0f} ms for every page)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
