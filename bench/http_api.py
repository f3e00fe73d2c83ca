"""Authenticated GET /admin/general-settings and GET /projects/ (1,000 projects) through a
real `labkeeper serve`, against a bare ASGI handler returning the same JSON, in one run.

    .venv/bin/python bench/http_api.py [--seconds 10] [--database-url URL]

Targets: labkeeper at least 0.5 of the bare handler's throughput, p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import BareServer, LabkeeperServer, wrk  # noqa: E402

ROUTES = ["/admin/general-settings", "/projects/"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    server = LabkeeperServer(database_url=args.database_url)
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
        bare = BareServer(bodies)
        print(f"{'route':28} {'':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for route in ROUTES:
            size = len(bodies["/dip/publicapi" + route])
            ours = wrk(server.url + "/dip/publicapi" + route, seconds=args.seconds)
            base = wrk(bare.url + "/dip/publicapi" + route, seconds=args.seconds)
            for name, figures in (("labkeeper", ours), ("bare ASGI", base)):
                print(
                    f"{route:28} {name:10} {figures['rps']:9.0f} {figures['p50']:8.2f} {figures['p99']:8.2f}"
                )
            print(
                f"{route:28} ratio {ours['rps'] / base['rps']:.2f} of bare throughput ({size} bytes/answer)"
            )
    finally:
        server.close()
        if bare:
            bare.close()


if __name__ == "__main__":
    main()
