"""Make docs/running-notebooks.png: the Running notebooks page of a real instance with a few
live kernels, captured by Debian's chromium through Playwright.

    .venv/bin/python docs/screenshot.py [--out docs/running-notebooks.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import LabkeeperServer  # noqa: E402
from tests.helpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PASSWORD = "screenshot password"
# (project, notebook, user, megabytes the notebook holds in memory)
SESSIONS = [
    ("CHURN", "feature engineering", "alice", 420),
    ("CHURN", "baseline model", "alice", 180),
    ("FORECAST", "weekly sales", "bob", 260),
    ("FORECAST", "holiday effects", "carol", 60),
    ("FRAUD", "graph features", "dave", 730),
    ("FRAUD", "exploration", "bob", 20),
]


def notebook(megabytes: int) -> dict:
    source = (
        f"import time\nblob = bytearray({megabytes} * 1024 * 1024)\n"
        "for i in range(len(blob) // 4096):\n    blob[i * 4096] = 1"
    )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"id": "c0", "cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                   "execution_count": None}],
    }  # fmt: skip


def seed(server: LabkeeperServer) -> None:
    api = server.api
    users = sorted({user for _, _, user, _ in SESSIONS})
    api.post(
        "/admin/groups/", json={"name": "data-science", "mayWriteUnsafeCode": True, "mayRunNotebooks": True}
    )
    for user in users:
        api.post(
            "/admin/users/", json={"login": user, "displayName": user.title(), "groups": ["data-science"]}
        )
    for project in sorted({p for p, _, _, _ in SESSIONS}):
        api.post("/projects/", json={"projectKey": project, "name": project.title()}).raise_for_status()
        perms = api.get(f"/projects/{project}/permissions").json()
        perms["permissions"].append(
            {"group": "data-science", "readProjectContent": True, "writeProjectContent": True}
        )
        api.put(f"/projects/{project}/permissions", json=perms).raise_for_status()
    jobs = []
    for project, name, user, megabytes in SESSIONS:
        api.post(f"/projects/{project}/jupyter-notebooks/{name}", json=notebook(megabytes)).raise_for_status()
        as_user = {"X-DKU-ProxyUser": user}
        run = api.post(f"/projects/{project}/jupyter-notebooks/{name}/actions/run", json={}, headers=as_user)
        run.raise_for_status()
        jobs.append(run.json()["jobId"])
    for job in jobs:
        for _ in range(120):
            if not api.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"]:
                break
            time.sleep(0.5)
    api.put("/admin/users/admin", json={"login": "admin", "password": PASSWORD}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "running-notebooks.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = LabkeeperServer()
    try:
        seed(server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=server.url, viewport={"width": 1360, "height": 560})
            page.goto("/login")
            page.fill("input[name=login]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/notebooks")
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(f"wrote {args.out}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
