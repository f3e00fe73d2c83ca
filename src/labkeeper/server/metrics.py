"""Prometheus metrics: what the request path counts, and what the store says at scrape time.

Counted by every request (server/request_path.py), in this process:
  labkeeper_http_requests_total{route,method,status}
  labkeeper_http_request_duration_seconds{route,method}   (histogram)
  labkeeper_store_errors_total, labkeeper_store_up
`route` is the route template (`/projects/{key}`), never the raw path: a request to no route
is `unmatched`, a method outside HTTP's usual ones is `OTHER`, so no caller can create series.

Read from the store when scraped, so every worker's tasks and kernels show whichever worker
answers the scrape:
  labkeeper_futures{kind,state}                 tasks kept in the store (running and finished)
  labkeeper_code_env_builds{state}              code env builds kept in the store
  labkeeper_code_env_build_duration_seconds     (histogram) of the finished ones
  labkeeper_kernels{user}, labkeeper_kernel_rss_bytes{user}, labkeeper_kernel_cpu_seconds{user}
                                                live Jupyter kernels, summed per user

With several workers (`PROMETHEUS_MULTIPROC_DIR` set before they start), each process
writes its counts to files there and a scrape sums them (prometheus_client's multi-process
mode).
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

from labkeeper.db import Store

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BUILD_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """One app's metrics, and the scrape."""

    def __init__(self, store_of) -> None:  # type: ignore[no-untyped-def]
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "labkeeper_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "labkeeper_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "labkeeper_store_errors", "Store errors that made a request fail", registry=self.registry
        )
        self.store_up = Gauge(
            "labkeeper_store_up",
            "1 while the store answers, 0 while it is unreachable",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.store_up.set(1)
        self._children: dict[tuple[str, str, int], tuple] = {}
        self._store_collector = StoreCollector(store_of)
        if not self.multiprocess:
            self.registry.register(self._store_collector)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request: what `Counter.inc()` and `Histogram.observe()` of its children
        do, straight on their values (the same locked values, mmap files in multi-process
        mode), without the wrappers' checks and bucket walk: about half the cost, on every
        request. tests/server/test_metrics.py holds it to the library's own figures."""
        key = (route, method, status)
        counts = self._children.get(key)
        if counts is None:
            counts = self._children[key] = self._counts_for(route, method, status)
        count, add_seconds, buckets = counts
        count(1)
        add_seconds(seconds)
        buckets[bisect_left(LATENCY_BUCKETS, seconds)](1)  # the first bound >= seconds, else +Inf

    def _counts_for(self, route: str, method: str, status: int) -> tuple:
        if method not in METHODS:
            method = "OTHER"
        requests = self._requests.labels(route, method, str(status))
        latency = self._latency.labels(route, method)
        buckets = latency._buckets  # noqa: SLF001 - one per bound of LATENCY_BUCKETS, then +Inf
        assert len(buckets) == len(LATENCY_BUCKETS) + 1
        return requests._value.inc, latency._sum.inc, [bucket.inc for bucket in buckets]  # noqa: SLF001

    def store_changed(self, up: bool) -> None:
        self.store_up.set(1 if up else 0)

    def scrape(self) -> bytes:
        """The text exposition (blocking: reads the store and /proc; call off the loop)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(self._store_collector)
        return generate_latest(registry)


_FUTURES = "SELECT kind, state, count(*) FROM tasks GROUP BY kind, state"
_BUILDS = "SELECT state, started_on, ended_on FROM tasks WHERE kind = 'codeenv.build'"
_KERNELS = (
    "SELECT creator, pid, pid_create_time FROM jupyter_sessions"
    " WHERE state IN ('STARTING', 'RUNNING') AND pid IS NOT NULL"
)


class StoreCollector:
    """Metrics read from the store at scrape time (see the module docstring)."""

    def __init__(self, store_of) -> None:  # type: ignore[no-untyped-def]
        self._store_of = store_of  # the store exists once the app has started

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        store: Store = self._store_of()
        try:
            with store.engine.connect() as conn:
                futures = conn.execute(text(_FUTURES)).all()
                builds = conn.execute(text(_BUILDS)).all()
                kernels = conn.execute(text(_KERNELS)).all()
        except Exception:  # noqa: BLE001 - the store is down: labkeeper_store_up says so
            return
        family = GaugeMetricFamily("labkeeper_futures", "Tasks kept in the store", labels=["kind", "state"])
        for kind, state, count in futures:
            family.add_metric([kind, state], count)
        yield family
        yield from _builds(builds)
        yield from _kernels(kernels)


def _builds(rows: list) -> Iterator[Metric]:
    by_state: dict[str, int] = {}
    durations = []
    for state, started, ended in rows:
        by_state[state] = by_state.get(state, 0) + 1
        if ended and started and ended >= started:
            durations.append((ended - started) / 1000)
    family = GaugeMetricFamily(
        "labkeeper_code_env_builds", "Code env builds kept in the store", labels=["state"]
    )
    for state, count in sorted(by_state.items()):
        family.add_metric([state], count)
    yield family
    buckets = [(str(bound), sum(1 for d in durations if d <= bound)) for bound in BUILD_BUCKETS]
    buckets.append(("+Inf", len(durations)))
    histogram = HistogramMetricFamily(
        "labkeeper_code_env_build_duration_seconds", "Durations of the finished code env builds"
    )
    histogram.add_metric([], buckets, sum_value=sum(durations))
    yield histogram


def _kernels(rows: list) -> Iterator[Metric]:
    count: dict[str, int] = {}
    rss: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for user, pid, created in rows:
        try:
            process = psutil.Process(pid)
            if created and abs(process.create_time() - created) > 1:
                continue  # the pid now belongs to another process
            with process.oneshot():
                memory, times = process.memory_info().rss, process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        count[user] = count.get(user, 0) + 1
        rss[user] = rss.get(user, 0) + memory
        cpu[user] = cpu.get(user, 0) + times.user + times.system
    for name, doc, values in (
        ("labkeeper_kernels", "Live Jupyter kernels", count),
        ("labkeeper_kernel_rss_bytes", "Resident memory of the live kernels", rss),
        ("labkeeper_kernel_cpu_seconds", "CPU time (user + system) of the live kernels", cpu),
    ):
        family = GaugeMetricFamily(name, doc, labels=["user"])
        for user, value in sorted(values.items()):
            family.add_metric([user], value)
        yield family
