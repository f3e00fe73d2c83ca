"""Shared by the /lab tests: a real labkeeper on a real port, its users, Jupyter's REST API
and its kernel websocket protocol, spoken the way jupyter_server's own clients speak it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.conftest import ADMIN_KEY, API, LiveServer, make_user
from tests.jupyter.helpers import notebook

UNSAFE_CODE = {"mayRunNotebooks": True, "mayWriteUnsafeCode": True}
__all__ = ["Lab", "UNSAFE_CODE", "notebook"]


class Lab:
    """A live labkeeper, seen through its API and through /lab."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.url = live.url
        self.admin = self.api(ADMIN_KEY)

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url + API, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def lab(self, key: str | None, **headers: str) -> httpx.Client:
        if key is not None:
            headers["Authorization"] = f"token {key}"
        return httpx.Client(base_url=self.url + "/lab", headers=headers, timeout=60)

    def project(self, key: str, *, writers: tuple[str, ...] = (), readers: tuple[str, ...] = ()) -> None:
        answer = self.admin.post("/projects/", json={"projectKey": key, "name": key})
        assert answer.status_code == 200, answer.text
        perms = self.admin.get(f"/projects/{key}/permissions").json()
        perms["permissions"] += [{"group": g, "writeProjectContent": True} for g in writers]
        perms["permissions"] += [{"group": g, "readProjectContent": True} for g in readers]
        assert self.admin.put(f"/projects/{key}/permissions", json=perms).status_code == 204

    def user(self, login: str, group: str, permissions: dict[str, bool] | None = None) -> str:
        return make_user(self.live.store, login, [group], group_permissions=permissions)

    def put_notebook(self, key: str, project: str, name: str, *sources: str, kernel: str = "python3") -> None:
        answer = self.api(key).post(
            f"/projects/{project}/jupyter-notebooks/{name}", json=notebook(*sources, kernel=kernel)
        )
        assert answer.status_code == 200, answer.text

    def start_kernel(self, key: str, path: str, kernel: str = "python3") -> dict[str, Any]:
        """A Lab session of the notebook at `path`: what JupyterLab does on opening it."""
        body = {"path": path, "type": "notebook", "name": "", "kernel": {"name": kernel}}
        answer = self.lab(key).post("/api/sessions", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def ws_url(self, kernel_id: str) -> str:
        return self.url.replace("http://", "ws://") + f"/lab/api/kernels/{kernel_id}/channels?session_id=t"


def message(msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict[str, Any]:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "test",
        "session": "t",
        "version": "5.3",
        "date": "",
    }
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": channel}


class KernelSocket:
    """One websocket to a kernel through /lab, with Jupyter's JSON frames (no subprotocol)."""

    def __init__(
        self,
        lab: Lab,
        kernel_id: str,
        key: str | None,
        origin: str | None = None,
        open_timeout: float = 30,
    ) -> None:
        headers = {"Authorization": f"token {key}"} if key else {}
        if origin is not None:
            headers["Origin"] = origin
        self.ws = connect(lab.ws_url(kernel_id), additional_headers=headers, open_timeout=open_timeout)

    def __enter__(self) -> KernelSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def request(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> list[dict[str, Any]]:
        """Send a request; return every message answering it, up to its reply and idle status."""
        sent = message(msg_type, content, channel)
        self.ws.send(json.dumps(sent))
        got, replied, idle = [], False, False
        while not (replied and idle):
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("parent_header", {}).get("msg_id") != sent["header"]["msg_id"]:
                continue
            got.append(msg)
            if msg["msg_type"].endswith("_reply"):
                replied = True
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        return got

    def execute(self, code: str) -> tuple[str, dict[str, Any]]:
        """Run `code`; return its stdout and its execute_reply content."""
        got = self.request("execute_request", {"code": code, "silent": False, "store_history": True})
        out = "".join(m["content"]["text"] for m in got if m["msg_type"] == "stream")
        errors = [m["content"] for m in got if m["msg_type"] == "error"]
        reply = next(m["content"] for m in got if m["msg_type"] == "execute_reply")
        assert not errors or reply["status"] == "error", errors
        return out, reply


class TerminalSocket:
    """One websocket to a terminal through /lab, in terminado's protocol (JSON arrays)."""

    def __init__(self, lab: Lab, name: str, key: str | None, origin: str | None = None) -> None:
        headers = {"Authorization": f"token {key}"} if key else {}
        if origin is not None:
            headers["Origin"] = origin
        url = lab.url.replace("http://", "ws://") + f"/lab/terminals/websocket/{name}"
        self.ws = connect(url, additional_headers=headers, open_timeout=30)

    def __enter__(self) -> TerminalSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def run(self, command: str) -> str:
        """Type `command` into the shell; return what it printed, up to a marker echoed after it."""
        marker = uuid.uuid4().hex
        self.ws.send(json.dumps(["stdin", f"{command}; echo; echo {marker[:16]}''{marker[16:]}\n"]))
        seen = ""
        while marker not in seen:
            kind, *payload = json.loads(self.ws.recv(timeout=60))
            if kind == "stdout":
                seen += payload[0]
        return seen[: seen.index(marker)]
