"""A real aiohttp server that forwards OpenAI-compatible requests to an upstream server, with
a fault switch: a request whose user message contains `FAULT_500` gets an HTTP 500, one with
`FAULT_MALFORMED` gets a 200 whose body is not JSON. Everything else is answered by the upstream
(the tiny model behind `transformers serve`), unchanged.

Run: python tests/distill/fault_server.py --port P --upstream http://127.0.0.1:U
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from typing import Any


def build_app(upstream: str) -> Any:
    from aiohttp import ClientSession, web  # imported here: collecting this file needs no aiohttp

    session_key = web.AppKey("session", ClientSession)

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        text = json.dumps(json.loads(body).get("messages", ""))
        if "FAULT_500" in text:
            return web.Response(status=500, text='{"error": "planted server error"}')
        if "FAULT_MALFORMED" in text:
            return web.Response(
                status=200, text='{"choices": [{"message": ', content_type="application/json"
            )
        async with request.app[session_key].post(
            upstream + request.path, data=body, headers={"Content-Type": "application/json"}
        ) as reply:
            return web.Response(
                status=reply.status, body=await reply.read(), content_type="application/json"
            )

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        app[session_key] = ClientSession()
        yield
        await app[session_key].close()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.cleanup_ctx.append(session_context)
    app.router.add_post("/v1/chat/completions", forward)
    app.router.add_post("/v1/completions", forward)
    app.router.add_get("/health", health)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    from aiohttp import web

    web.run_app(build_app(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port, print=None)
