"""A real OpenAI-compatible server (aiohttp) that plays a contamination judge who knows the truth.

It reads the two problems out of each `/v1/chat/completions` prompt (the template is
`amfast.decontam_judge.SAME_PROBLEM_PROMPT`; any other prompt is an HTTP 400) and answers
`True` when the pair is listed in the answers file as the same planted item, `False` otherwise,
and a hedge that is neither for a training row listed as `garbled`. Every pair it is asked about
is appended to the log (JSONL), so a test can see who was asked.

Run: python tests/judge_server.py --port P --answers answers.json --log asked.jsonl
answers.json: {"same": [[training row, benchmark item], ...], "garbled": [training row, ...]}
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from amfast.decontam_judge import SAME_PROBLEM_PROMPT

GARBLED_REPLY = "Hard to say: they look alike, but I would need to solve both to be sure."


def prompt_pattern() -> re.Pattern[str]:
    """The judge prompt with its two problems as capture groups."""
    text = re.escape(SAME_PROBLEM_PROMPT)
    for name in ("problem1", "problem2"):
        text = text.replace(re.escape("{" + name + "}"), f"(?P<{name}>.*)", 1)
    return re.compile(text, re.DOTALL)


def build_app(answers_path: Path, log_path: Path) -> Any:
    from aiohttp import web  # imported here: collecting this file needs no aiohttp

    answers = json.loads(answers_path.read_text())
    same = {(row, item) for row, item in answers["same"]}
    garbled = set(answers["garbled"])
    pattern = prompt_pattern()

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        match = pattern.fullmatch(prompt)
        if match is None:
            return web.json_response({"error": "not a contamination question"}, status=400)
        row, item = match["problem1"], match["problem2"]
        with log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps({"problem1": row, "problem2": item}) + "\n")
        reply = "True" if (row, item) in same else "False"
        reply = GARBLED_REPLY if row in garbled else reply
        return web.json_response(
            {
                "id": f"judge-{time.monotonic_ns()}",
                "object": "chat.completion",
                "model": body.get("model", "judge"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 1},
            }
        )

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_get("/health", health)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    from aiohttp import web

    app = build_app(args.answers, args.log)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)
