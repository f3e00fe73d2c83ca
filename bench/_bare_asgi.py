"""The baseline: a raw ASGI callable serving fixed bytes, run by uvicorn like labkeeper."""

import sys
from pathlib import Path

import uvicorn

folder, port = Path(sys.argv[1]), int(sys.argv[2])
BODIES = {(folder / f"{p.stem}.path").read_text(): p.read_bytes() for p in folder.glob("*.json")}
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = BODIES.get(scope["path"], b"{}")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
