"""`curator generate` against an OpenAI-compatible server vs a plain async `openai` client sending the same
requests in the same run (SPEC 10: at least 0.9x the episodes/s), and the local-policy figure.

Starts `transformers serve` on the embedded SmolLM2 (a real OpenAI-compatible server) on a free port, then:
  1. a warm-up `curator generate` (the library call) on the first N training tasks of `--env`, greedy
     (temperature 0, so every run gets the same replies); its stored episodes give the exact requests sent
     (each assistant turn's conversation so far);
  2. the plain baseline: those requests sent by a bare `AsyncOpenAI` loop with the same concurrency, each
     episode's requests in order, nothing else done; then `curator generate` again, timed (requests, parsing,
     tool execution, scoring, one store transaction per episode), then the baseline again (the two baseline
     runs are averaged, so a drift of the machine's load hits both sides alike);
  3. the local policy: `curator generate --teacher default` (batched, cached generation in this process,
     model loading included) on the same tasks.
Prints the figures and the ratio. Usage: python benchmarks/generate.py [--tasks 6] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from harness import free_port

from curator.envs.loader import load_environment
from curator.generate import GenerateConfig, generate
from curator.store import Store
from trainer.base import resolve_base


def start_server(model: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "transformers"), "serve", model, "--host", "127.0.0.1"]
    with open(log, "w") as out:
        server = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    while server.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}/v1"
        time.sleep(0.5)
    raise SystemExit(f"transformers serve did not start: {log.read_text()[-2000:]}")


def stored_requests(db: Path) -> list[list[list[dict]]]:
    """Per stored episode, the messages of each request its teacher was sent (one per assistant turn)."""
    with Store(db, read_only=True) as store:
        rows = store.con.execute(
            """SELECT k.system, k.instruction, r.messages, t.tools_used
               FROM trajectories t JOIN revisions r ON r.traj_id = t.traj_id AND r.number = 0
               JOIN tasks k USING (task_hash) ORDER BY t.traj_id"""
        ).fetchall()
    episodes = []
    for system, instruction, messages, _ in rows:
        head = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": instruction}
        ]
        turns = [orjson.loads(m) for m in messages]
        episodes.append([head + turns[:i] for i, m in enumerate(turns) if m["role"] == "assistant"])
    return episodes


async def plain_loop(
    url: str, model: str, tools: list, episodes: list, config: GenerateConfig
) -> tuple[float, int]:
    """The baseline: the same requests through a bare async client, the same concurrency."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="none", max_retries=config.retries, timeout=config.timeout_s)
    gate, tokens = asyncio.Semaphore(config.concurrency), [0]

    async def one(requests: list) -> None:
        async with gate:
            for messages in requests:
                response = await client.chat.completions.create(
                    model=model,
                    messages=messages,
                    tools=tools,
                    temperature=config.temperature,
                    max_tokens=config.max_tokens,
                )
                tokens[0] += response.usage.completion_tokens or 0

    started = time.perf_counter()
    await asyncio.gather(*(one(r) for r in episodes))
    wall = time.perf_counter() - started
    await client.close()
    return wall, tokens[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="sample")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    model = str(resolve_base(None))
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(model, Path(tmp) / "serve.log")
        try:
            config = GenerateConfig(
                env=args.env,
                teacher=url,
                teacher_model=model,
                limit=args.tasks,
                temperature=0.0,
                max_steps=args.max_steps,
                max_tokens=args.max_tokens,
                concurrency=args.concurrency,
            )
            # warm-up: the same episodes once (server, client and model caches), then their requests are known
            generate(config, Path(tmp) / "warm.duckdb", show_progress=False)
            episodes = stored_requests(Path(tmp) / "warm.duckdb")
            tools = load_environment(args.env).tools
            # plain, ours, plain: a drift of the shared machine's load hits both sides alike
            first = asyncio.run(plain_loop(url, model, tools, episodes, config))
            ours = generate(config, Path(tmp) / "bench.duckdb", show_progress=False)
            second = asyncio.run(plain_loop(url, model, tools, episodes, config))
            wall, tokens = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
        finally:
            server.terminate()
            server.wait(30)
        local = generate(
            GenerateConfig(
                env=args.env,
                teacher="default",
                limit=args.tasks,
                temperature=0.0,
                max_steps=args.max_steps,
                max_tokens=args.max_tokens,
            ),
            Path(tmp) / "local.duckdb",
            show_progress=False,
        )
    requests = sum(len(e) for e in episodes)
    plain_eps = len(episodes) / wall
    figures = {
        "episodes": ours["episodes"],
        "requests": requests,
        "generate_episodes_per_s": ours["episodes_per_s"],
        "generate_tokens_per_s": ours["tokens_per_s"],
        "plain_episodes_per_s": round(plain_eps, 3),
        "plain_tokens_per_s": round(tokens / wall, 1),
        "ratio": round(ours["episodes_per_s"] / plain_eps, 3),
        "local_episodes_per_s": local["episodes_per_s"],
        "local_tokens_per_s": local["tokens_per_s"],
    }
    print(json.dumps(figures, indent=2))
    print(
        f"curator generate {figures['generate_episodes_per_s']} episodes/s vs plain async client "
        f"{figures['plain_episodes_per_s']} = {figures['ratio']}x (target >= 0.9x); local policy "
        f"{figures['local_episodes_per_s']} episodes/s, {figures['local_tokens_per_s']} tokens/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
