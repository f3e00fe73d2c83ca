"""Operations of bench/scaleout.py, imported by its worker nodes (`labkeeper worker --import`)."""

from __future__ import annotations

import asyncio
import time

from labkeeper.futures.runner import operation


@operation("bench.mark")
def mark(ctx, args):  # type: ignore[no-untyped-def]
    return {"startedAt": time.time()}


@operation("bench.io-wait")
async def io_wait(ctx, args):  # type: ignore[no-untyped-def]
    await asyncio.sleep(float(args["seconds"]))
    return {"node": getattr(ctx, "node", "")}
