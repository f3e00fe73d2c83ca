"""Assertions and probes shared by every test folder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The answer is a DSS error body with `status` whose message names every word."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"}, body
    text = (body["message"] + " " + body["detailedMessage"]).lower()
    for word in words:
        assert word.lower() in text, (word, body)
    return body


def assert_bad(response: httpx.Response, *words: str) -> dict[str, Any]:
    return assert_error(response, 400, *words)


def task_tree(instance: Any, job_id: str) -> list[int]:
    """Every live process a task started, with all their descendants."""
    from labkeeper.futures.models import Task

    with instance.store.read() as s:
        roots = [int(pid) for pid, _ in s.get(Task, job_id).processes]
    pids: list[int] = []
    for pid in roots:
        try:
            root = psutil.Process(pid)
            pids += [root.pid, *(child.pid for child in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            pass
    return pids


def alive(pid: int) -> bool:
    """Running (a zombie runs nothing any more)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def returns(call: Callable[[], Any], guard: float, what: str) -> tuple[Any, BaseException | None]:
    """Run `call` in a thread and prove that it returns (the join is only a hang guard, far
    above what it should take): its result, or what it raised."""
    outcome: list[tuple[Any, BaseException | None]] = []

    def run() -> None:
        try:
            outcome.append((call(), None))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append((None, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(guard)
    assert not thread.is_alive(), f"{what} never returned"
    return outcome[0]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something true or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# Debian's chromium, driven headless by Playwright in the browser tests (console, lab). The
# flags keep it off this machine's closed network (background fetches, updates, sync).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)"


def browser_fixture(sync_api: Any) -> Any:
    """A module-scoped fixture: one headless chromium for a browser test module."""
    import pytest

    @pytest.fixture(scope="module")
    def chromium() -> Any:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()

    return chromium
