"""Authenticated GET /admin/general-settings and GET /projects/ (1,000 projects) through a
real `labkeeper serve`, against a bare ASGI handler returning the same JSON, in one run.

    .venv/bin/python bench/http_api.py [--rounds 5] [--seconds 4] [--database-url URL]

Each round measures labkeeper then the bare handler on the same route, so that both see the
same machine; the ratio reported is the median of the rounds' ratios. On two or more cores
each server runs alone on CPU 0 and wrk on CPU 1 (`--no-pin` shares every core).
Targets: labkeeper at least 0.5 of the bare handler's throughput, p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import BareServer, LabkeeperServer, split_cpus, wrk  # noqa: E402

ROUTES = ["/admin/general-settings", "/projects/"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--database-url")
    parser.add_argument("--no-pin", action="store_true", help="let servers and wrk share every core")
    args = parser.parse_args()

    server_cpu, load_cpu = (None, None) if args.no_pin else split_cpus()
    threads = 2 if load_cpu is None else 1
    server = LabkeeperServer(database_url=args.database_url, cpu=server_cpu)
    bare = None
    try:
        for index in range(args.projects):
            server.api.post(
                "/projects/", json={"projectKey": f"BENCH_{index:04d}", "name": f"Bench {index}"}
            ).raise_for_status()
        bodies = {}
        for route in ROUTES:
            answer = server.api.get(route)
            answer.raise_for_status()
            bodies["/dip/publicapi" + route] = answer.content
        assert len(server.api.get("/projects/").json()) == args.projects
        bare = BareServer(bodies, cpu=server_cpu)
        placement = (
            "shared cores" if server_cpu is None else f"servers on CPU {server_cpu}, wrk on CPU {load_cpu}"
        )
        print(f"{args.rounds} rounds of {args.seconds} s per server and route, 32 connections, {placement}")
        print(
            f"{'route':26} {'round':>5} {'labkeeper':>10} {'p50/p99 ms':>12}"
            f" {'bare':>8} {'p50/p99 ms':>12} {'ratio':>6}"
        )
        for route in ROUTES:
            ours, base, ratios = [], [], []
            for index in range(args.rounds):
                url = "/dip/publicapi" + route
                mine = wrk(server.url + url, seconds=args.seconds, threads=threads, cpu=load_cpu)
                theirs = wrk(bare.url + url, seconds=args.seconds, threads=threads, cpu=load_cpu)
                ours.append(mine)
                base.append(theirs)
                ratios.append(mine["rps"] / theirs["rps"])
                print(
                    f"{route:26} {index + 1:5} {mine['rps']:10.0f} {mine['p50']:5.2f}/{mine['p99']:<6.2f}"
                    f" {theirs['rps']:8.0f} {theirs['p50']:5.2f}/{theirs['p99']:<6.2f} {ratios[-1]:6.2f}"
                )
            size = len(bodies["/dip/publicapi" + route])
            print(
                f"{route:26} median: labkeeper {statistics.median(r['rps'] for r in ours):.0f} req/s,"
                f" bare {statistics.median(r['rps'] for r in base):.0f} req/s,"
                f" ratio {statistics.median(ratios):.2f} (min {min(ratios):.2f});"
                f" labkeeper p99 worst {max(r['p99'] for r in ours):.2f} ms; {size} bytes/answer"
            )
    finally:
        server.close()
        if bare:
            bare.close()


if __name__ == "__main__":
    main()
