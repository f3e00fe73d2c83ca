"""The DSS operation report a `wait=true` code env call answers, built from a task.

The official client reads `answer["messages"]["error"]`, so the report's flags live in
`messages` (an object holding the message list too) and are repeated at the top level.
"""

from __future__ import annotations

from typing import Any

from labkeeper.futures.models import ABORTED, DONE, FAILED, Task

_VERBS = {
    "create": "Created",
    "register": "Registered",
    "update": "Updated",
    "rebuild": "Rebuilt",
    "jupyter-on": "Activated Jupyter support in",
    "jupyter-off": "Deactivated Jupyter support in",
    "delete": "Deleted",
}


def report(lang: str, name: str, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    severities = {m["severity"] for m in messages}
    flags = {
        "anyMessage": bool(messages),
        "success": "SUCCESS" in severities,
        "warning": "WARNING" in severities,
        "error": bool(severities & {"ERROR", "FATAL"}),
        "fatal": "FATAL" in severities,
    }
    return {"envLang": lang, "envName": name, **flags, "messages": {**flags, "messages": messages}, **extra}


def success_report(
    lang: str,
    name: str,
    mode: str,
    log_name: str,
    packages: str,
    version: str,
    seconds: float | None,
) -> dict[str, Any]:
    count = len([line for line in packages.splitlines() if line])
    text = f"{_VERBS.get(mode, 'Built')} {lang.lower()} code env {name!r}"
    if mode != "delete":
        text += f": Python {version}, {count} packages"
    if seconds is not None:
        text += f", in {seconds:.2f} s"
    message: dict[str, Any] = {"severity": "SUCCESS", "message": text}
    if log_name:
        message["logName"] = log_name
    return report(lang, name, [message])


def task_report(task: Task) -> dict[str, Any]:
    """The report of a finished build or deletion task."""
    lang, name = task.args.get("lang", ""), task.args.get("name", "")
    if task.state == DONE and isinstance(task.result, dict) and "messages" in task.result:
        return {**task.result, "jobId": task.id}
    if task.state == FAILED:
        text = task.error or "the operation failed"
    elif task.state == ABORTED:
        text = f"{task.display_name or 'The operation'} was aborted by {task.aborted_by or 'an unknown user'}"
    else:
        text = f"the operation ended in state {task.state}"
    messages = [{"severity": "ERROR", "message": text}]
    return report(lang, name, messages, jobId=task.id)
