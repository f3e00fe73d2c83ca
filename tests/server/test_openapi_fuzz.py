"""Schemathesis over the whole /openapi.json: every operation, with bounded, seeded examples
that fit the document and examples that do not, as the admin. No answer may be a 5xx, and
every status must be one the operation documents (its success and the DSS error answers,
server/routing.py). Runs on whichever store the suite runs on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import HypothesisException, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.conftest import ADMIN_KEY, API, Instance

EXAMPLES = 4  # per operation and generation mode: the whole walk stays well under two minutes
PROJECT = "FUZZED"

# Operations not fuzzed, and why; each has its own tests. Nothing else may be left out.
NOT_FUZZED = {
    f"POST {API}/admin/code-envs/{{env_lang}}/{{env_name}}": "builds a real environment with uv and "
    "waits for it (wait=true by default): minutes per example",
    f"POST {API}/admin/code-envs/{{env_lang}}/{{env_name}}/packages": "rebuilds an environment (wait=true)",
    f"POST {API}/admin/code-envs/{{env_lang}}/{{env_name}}/jupyter": "installs packages (wait=true)",
    f"POST {API}/projects/{{project_key}}/jupyter-notebooks/{{name}}/sessions": "starts a real kernel "
    "(seconds each, bounded per user): tests/jupyter cover it",
    f"POST {API}/projects/{{project_key}}/jupyter-notebooks/{{name}}/actions/run": "starts a kernel and "
    "runs the notebook as a future: tests/jupyter cover it",
    f"POST {API}/projects/{{key}}/sql-notebooks/{{notebook_id}}/cells/{{cell_id}}/actions/run": "runs "
    "a query on a connection (wait=true waits for it): tests/sql cover it",
}

CHECKS = [not_a_server_error, status_code_conformance]


def _send(http: httpx.Client) -> Callable[[schemathesis.Case], httpx.Response]:
    def send(case: schemathesis.Case) -> httpx.Response:
        sent = case.as_transport_kwargs(
            base_url="http://testserver", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        body: dict[str, Any] = {}
        if "json" in sent:
            body["json"] = sent["json"]
        elif sent.get("data") is not None:
            data = sent["data"]
            body["data" if isinstance(data, dict) else "content"] = data
        return http.request(
            sent["method"],
            sent["url"],
            headers=sent.get("headers"),
            params=sent.get("params"),
            cookies=sent.get("cookies"),
            **body,
        )

    return send


def _exercise(operation: Any, mode: GenerationMode, send: Callable, path_parameters: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.validate_response(send(case), checks=CHECKS)

    run()


def test_every_operation_answers_documented_statuses_and_never_a_5xx(instance: Instance) -> None:
    document = instance.http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    send = _send(instance.http)
    failures: list[str] = []
    fuzzed: set[str] = set()
    unnegatable: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in NOT_FUZZED:
            continue
        fuzzed.add(label)
        # Half the examples reach into a project that exists, past the 404 of a made-up key.
        names = {p.name for p in operation.path_parameters}
        existing = {name: PROJECT for name in ("key", "project_key") if name in names}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for fixed in ({}, existing) if existing else ({},):
                if fixed:  # a DELETE of the project may have run: it exists again for this one
                    created = instance.admin.post("/projects/", json={"projectKey": PROJECT, "name": "F"})
                    assert created.status_code in (200, 409), created.text
                try:
                    _exercise(operation, mode, send, fixed)
                except Unsatisfiable:
                    # Nothing of the operation can be made not to fit (no body, no typed parameter).
                    assert mode is GenerationMode.NEGATIVE, label
                    unnegatable.add(label)
                except (
                    AssertionError,
                    BaseExceptionGroup,  # schemathesis: several distinct failures
                    HypothesisException,
                    schemathesis.errors.SchemathesisError,
                ) as exc:
                    failures.append(f"{label} [{mode.value}{' in ' + PROJECT if fixed else ''}]: {exc}")
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert set(NOT_FUZZED) <= documented, "a NOT_FUZZED entry names no operation"
    assert len(fuzzed) > 100
    assert len(fuzzed - unnegatable) > 50  # hostile examples reached every other operation
    assert not failures, "\n\n".join(failures)
