"""GET /metrics: every request counted by route template, who may read it, and what a
hostile caller cannot do to it (blow up its series, read it without the right)."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from labkeeper.config import Config
from labkeeper.server.metrics import LATENCY_BUCKETS, Metrics
from tests.conftest import Instance, LiveServer
from tests.helpers import assert_error
from tests.jupyter.helpers import notebook
from tests.projects.helpers import create

NB = "/projects/MET/jupyter-notebooks"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels...}` (labels in any order), or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit("} ", 1)[0])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def scrape(instance: Instance) -> str:
    answer = instance.http.get(
        "/metrics", headers={"Authorization": "Bearer lk_test_admin_key_0123456789abcdef"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_metrics_count_each_route_kind_and_show_a_live_kernel(instance: Instance) -> None:
    admin = instance.admin
    create(instance, "MET")
    assert admin.post(f"{NB}/main", json=notebook("x = 1")).status_code == 200
    session = admin.post(f"{NB}/main/sessions")
    assert session.status_code == 200, session.text
    for _ in range(3):
        assert admin.get("/admin/general-settings").status_code == 200  # a former fast-lane route
    assert admin.get("/projects/").status_code == 200  # the other one
    assert admin.get("/projects/MET").status_code == 200  # a route with a path parameter
    assert admin.put("/admin/variables/", json={"a": 1}).status_code == 204  # a write
    assert instance.client("wrong-key-0123456789").get("/current-user").status_code == 401
    assert admin.get("/no/such/thing").status_code == 404
    assert instance.http.get("/healthz").status_code == 200
    text = scrape(instance)
    requests = "labkeeper_http_requests_total"
    assert sample(text, requests, route="/admin/general-settings", method="GET", status="200") == 3
    assert sample(text, requests, route="/projects/", method="GET", status="200") == 1
    assert sample(text, requests, route="/projects/{key}", method="GET", status="200") == 1
    assert sample(text, requests, route="/projects/", method="POST", status="200") == 1
    assert sample(text, requests, route="/admin/variables/", method="PUT", status="204") == 1
    assert sample(text, requests, route="/current-user", method="GET", status="401") == 1
    assert sample(text, requests, route="unmatched", method="GET", status="404") == 1
    assert sample(text, requests, route="/healthz", method="GET", status="200") == 1
    hist = "labkeeper_http_request_duration_seconds_count"
    assert sample(text, hist, route="/admin/general-settings", method="GET") == 3
    assert sample(text, "labkeeper_store_up") == 1
    assert sample(text, "labkeeper_kernels", user="admin") == 1
    assert sample(text, "labkeeper_kernel_rss_bytes", user="admin") > 10_000_000
    assert sample(text, "labkeeper_kernel_cpu_seconds", user="admin") > 0
    assert "labkeeper_code_env_build_duration_seconds_bucket" in text
    admin.delete(f"{NB}/main/sessions/{session.json()['sessionId']}")


def test_metrics_need_an_admin_or_may_read_metrics(instance: Instance) -> None:
    plain = instance.make_user("pat", ["analysts"])
    reader = instance.make_user("mo", ["monitoring"], group_permissions={"mayReadMetrics": True})
    assert_error(instance.http.get("/metrics"), 401)
    body = assert_error(instance.http.get("/metrics", headers={"Authorization": f"Bearer {plain}"}), 403)
    assert "mayReadMetrics" in body["message"]
    assert instance.http.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    group = instance.admin.get("/admin/groups/monitoring").json()
    assert group["mayReadMetrics"] is True
    assert instance.admin.get("/admin/groups/analysts").json()["mayReadMetrics"] is False


def test_metrics_public_serves_without_a_key(config: Config) -> None:
    import dataclasses

    import httpx

    with LiveServer(dataclasses.replace(config, metrics_public=True)) as server:
        assert httpx.get(server.url + "/metrics").status_code == 200


def test_a_hostile_member_cannot_grow_the_series(instance: Instance) -> None:
    member = instance.make_user("mal", ["users"], group_permissions={"mayCreateProjects": True})
    client = instance.client(member)
    series = "labkeeper_http_requests_total{"
    before = scrape(instance).count(series)
    for i in range(200):
        client.get(f"/projects/P{i}x")  # one template, whatever the key
        client.get(f"/nothing/here/{i}")  # no route: one label
        client.request(f"X{i % 50}Y", "/projects/")  # odd methods: one label
        client.get(f"/projects/?includeLocation={i}")
    text = scrape(instance)
    assert "P17x" not in text and "/nothing/here" not in text and "X3Y" not in text
    assert sample(text, "labkeeper_http_requests_total", route="unmatched", method="GET", status="404") == 200
    assert text.count(series) - before <= 6  # a handful of new series, not hundreds
    assert sample(text, "labkeeper_http_requests_total", route="/projects/", method="OTHER") == 200


def test_request_counts_match_the_librarys_own_counter_and_histogram() -> None:
    """Metrics.observe adds to the children's values directly: the exposition must be the
    one prometheus_client's `inc()` and `observe()` give, on every bound and beyond them."""
    ours, theirs = Metrics(lambda: None), Metrics(lambda: None)
    durations = [0.0, 0.0004, 31.0, 1e9, *LATENCY_BUCKETS, *(b * 1.0001 for b in LATENCY_BUCKETS)]
    for index, seconds in enumerate(durations):
        status = (200, 404, 500)[index % 3]
        ours.observe("/x", "GET", status, seconds)
        ours.observe("/x", "BREW", status, seconds)
        for method in ("GET", "OTHER"):
            theirs._requests.labels("/x", method, str(status)).inc()
            theirs._latency.labels("/x", method).observe(seconds)

    def exposition(metrics: Metrics) -> list[str]:
        return [
            line for line in generate_latest(metrics.registry).decode().splitlines() if "_created" not in line
        ]

    assert exposition(ours) == exposition(theirs)
