"""A tiny OpenAI-style model server for the demo: it answers with its own name and model version.

``POST /v1/chat/completions`` answers a chat completion (``"stream": true`` streams it as server-sent
events); ``GET /healthz`` answers ok. Every response carries ``x-model-version`` so a person can see
which version served a request. Answers carry OpenAI-shaped ``usage`` (one token per word): in the
JSON body, and in a final event of a stream when the request asks with
``"stream_options": {"include_usage": true}``, as OpenAI does.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web


def _usage(prompt: str, answer: str) -> dict[str, int]:
    prompt_tokens, completion_tokens = len(prompt.split()), len(answer.split())
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion(version: str, prompt: str) -> dict[str, Any]:
    answer = f"[{version}] you said: {prompt}"
    return {
        "id": f"chatcmpl-{version}-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "model": version,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(prompt, answer),
    }


def build_app(version: str, *, stream_interval: float = 0.2) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        messages = body.get("messages") or [{"content": ""}]
        prompt = str(messages[-1].get("content", ""))
        headers = {"x-model-version": version}
        if not body.get("stream"):
            return web.json_response(_completion(version, prompt), headers=headers)
        response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
        await response.prepare(request)
        answer = f"[{version}] streaming an answer to: {prompt}"
        for word in answer.split():
            chunk = {"model": version, "choices": [{"delta": {"content": word + " "}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(stream_interval)
        if (body.get("stream_options") or {}).get("include_usage"):
            final = {"model": version, "choices": [], "usage": _usage(prompt, answer)}
            await response.write(f"data: {json.dumps(final)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def anything(request: web.Request) -> web.Response:
        body = {"model": version, "path": request.path}
        return web.json_response(body, headers={"x-model-version": version})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


async def start_model_server(version: str, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(version), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
