"""A scripted teacher behind a real OpenAI-compatible HTTP server (FastAPI + uvicorn) for the stock environment of
`tests/envs/` (the `scripted_teacher` fixture): instant and deterministic, so generation tests run in seconds. It
checks the stock (a native tool call), orders the shortfall (Hermes `<tool_call>` text; one too many gears, so that
task fails), and answers with the new stock. With TEACHER_FAILS_NUTS set, a task about nuts gets HTTP 503; with
TEACHER_DELAY_S set, every answer waits that long (a job still running when a test cancels it)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request  # at module level: FastAPI reads the handlers' annotations from here
from fastapi.responses import JSONResponse

ENVS = Path(__file__).parent / "envs"
STOCK = f"{ENVS / 'stock_env.py'}:StockEnv"
STOCK_TASKS = str(ENVS / "stock_tasks.jsonl")


def scripted_reply(body: dict) -> dict:
    messages = body["messages"]
    need = re.search(r"need (\d+) (\w+)", messages[-1]["content"] if messages[-1]["role"] == "user" else "")
    first = next(m for m in messages if m["role"] == "user")["content"]
    wanted, item = re.search(r"need (\d+) (\w+)", first).groups()
    wanted = int(wanted)
    tools = [m for m in messages if m["role"] == "tool"]
    message: dict = {"role": "assistant", "content": None}
    if need and body.get("tools"):
        call = {"name": "check_stock", "arguments": json.dumps({"item": item})}
        message["tool_calls"] = [{"id": "c0", "type": "function", "function": call}]
    elif len(tools) == 1 and json.loads(tools[0]["content"])["in_stock"] < wanted:
        stock = json.loads(tools[0]["content"])["in_stock"]
        quantity = wanted - stock + (item == "gears")
        call = json.dumps({"name": "order_item", "arguments": {"item": item, "quantity": quantity}})
        message["content"] = f"I'll order {quantity}.\n<tool_call>\n{call}\n</tool_call>"
    else:
        last = tools[-1]["content"]
        now = re.search(r"now (\d+)", last) or re.search(r'"in_stock": (\d+)', last)
        message["content"] = f"We now have {now.group(1)} {item}."
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@contextmanager
def scripted_server(port: int) -> Iterator[tuple[str, object]]:
    """The teacher on 127.0.0.1:`port` until the block ends: its base URL and the FastAPI app (`app.state.requests`
    counts chat requests)."""
    app = FastAPI()
    app.state.requests = 0

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "test"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        app.state.requests += 1
        await asyncio.sleep(float(os.environ.get("TEACHER_DELAY_S", "0")))
        first = next(m for m in body["messages"] if m["role"] == "user")["content"]
        if "nuts" in first and os.environ.get("TEACHER_FAILS_NUTS"):
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        return scripted_reply(body)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", app
    finally:
        server.should_exit = True
        thread.join(5)
