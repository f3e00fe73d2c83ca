"""Operations the futures tests run: real processes, real failures."""

from __future__ import annotations

import asyncio

from labkeeper.futures.runner import OperationError, operation


@operation("test.sleep-tree")
def sleep_tree(ctx, args):  # type: ignore[no-untyped-def]
    # A parent shell with two children, so an abort must stop a whole tree.
    ctx.progress([("sleeping", 0, 1)])
    code, _ = ctx.run(["/bin/sh", "-c", f"sleep {args['seconds']} & sleep {args['seconds']}; wait"])
    return {"code": code}


@operation("test.echo")
def echo(ctx, args):  # type: ignore[no-untyped-def]
    code, output = ctx.run(["/bin/echo", args["text"]])
    return {"code": code, "output": output.strip()}


@operation("test.fail")
def fail(ctx, args):  # type: ignore[no-untyped-def]
    raise OperationError(args["message"])


@operation("test.async-wait")
async def async_wait(ctx, args):  # type: ignore[no-untyped-def]
    await asyncio.sleep(args["seconds"])
    return {"slept": args["seconds"]}
