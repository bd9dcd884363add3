"""Client overhead of the `openai` distillation backend: requests/s against a loopback server
that answers every request at once with a fixed, valid chat completion, so the client (JSON,
HTTP, scheduling), not a model, is what is measured. The official `openai` SDK (AsyncOpenAI),
when installed, runs the same load in the same run as the peer.

The server is a separate process (aiohttp), so it does not share the client's event loop.

Usage: python benches/distill_client_overhead.py [--requests 5000] [--in-flight 64 256 512]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

COMPLETION = {
    "id": "bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": "4.\n</think>\nThe answer is $\\boxed{4}$.",
            },
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
}


def serve(port: int) -> None:
    from aiohttp import web

    body = json.dumps(COMPLETION).encode()

    async def complete(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run_amfast(base_url: str, requests: int, in_flight: int) -> tuple[float, int]:
    from amfast.generate.backend import GenerationRequest, Message
    from amfast.generate.openai_http import OpenAIBackend, OpenAIOptions

    backend = OpenAIBackend("bench", OpenAIOptions([base_url], max_in_flight=in_flight))
    batch = [
        GenerationRequest(
            f"p{i}:0", (Message("user", f"what is {i}+2?"),), "<think>\n", i, 64, 0.6, 0.95
        )
        for i in range(requests)
    ]
    start = time.perf_counter()
    # The runner's pattern: one call per request, `in_flight` of them at once.
    results = await backend.generate(batch)
    seconds = time.perf_counter() - start
    await backend.aclose()
    return seconds, sum(r.error is None for r in results)


async def run_openai_sdk(base_url: str, requests: int, in_flight: int) -> tuple[float, int]:
    import openai

    # The SDK's own HTTP client and pool (its default pool allows 1000 connections).
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    slots = asyncio.Semaphore(in_flight)

    async def one(i: int) -> bool:
        async with slots:
            reply = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": f"what is {i}+2?"}],
                max_tokens=64, temperature=0.6, top_p=0.95, seed=i,
            )  # fmt: skip
            return bool(reply.choices[0].message.content)

    start = time.perf_counter()
    ok = await asyncio.gather(*(one(i) for i in range(requests)))
    seconds = time.perf_counter() - start
    await client.close()
    return seconds, sum(ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also save the results here")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        base_url = f"http://127.0.0.1:{port}/v1"
        clients = {"amfast": run_amfast}
        if importlib.util.find_spec("openai"):
            clients["openai-sdk"] = run_openai_sdk
        rows = []
        print(
            f"{'client':<12} {'in flight':>9} {'requests':>9} {'seconds':>8} {'req/s':>8} {'ok':>6}"
        )
        for in_flight in args.in_flight:
            for name, client in clients.items():
                seconds, ok = asyncio.run(client(base_url, args.requests, in_flight))
                rate = args.requests / seconds
                row = {"client": name, "in_flight": in_flight, "requests": args.requests}
                rows.append(row | {"seconds": seconds, "requests_per_second": rate, "ok": ok})
                counts = f"{in_flight:>9} {args.requests:>9}"
                print(f"{name:<12} {counts} {seconds:>8.2f} {rate:>8.0f} {ok:>6}")
        machine = {"python": platform.python_version(), "machine": platform.platform()}
        if args.json:
            args.json.write_text(json.dumps({"machine": machine, "results": rows}, indent=2))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
