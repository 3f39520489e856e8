"""Generating trajectories (SPEC 11, `curator generate`): a teacher runs an environment's tasks, every call is
executed in a fresh environment instance, the episode is scored with `get_reward` and stored as a pending
trajectory with its score as the source label (the seed's data synthesis by rejection sampling).

- Teachers: an OpenAI-compatible chat-completions endpoint with tools (`--teacher http://...`: vLLM, SGLang, TGI,
  Ollama, OpenAI, `transformers serve`), through the `openai` client with `--concurrency N` requests in flight;
  the server's native `tool_calls` are used where it parses them, Hermes `<tool_call>` text in the content where
  it does not (both go through `trainer.evaluate.parse_reply`, as evaluation does). Or a local model (the embedded
  default, a Hugging Face id or folder, an adapter folder) through the batched, cached `trainer.policy.ModelPolicy`.
- An episode is the evaluation's `trainer.evaluate.Episode`: the same parsing, execution and scoring.
- Each finished episode is written in one transaction: the trajectory (unless `--keep success` drops a failure)
  and its row in `generated_episodes` (run key, task id, sample number). A re-run of the same command skips the
  episodes that row records, so a killed run continues where it stopped and nothing is stored twice.
- Endpoint failures (refused connection, 429, 5xx, timeouts) are retried with backoff by the client, then the
  episode is reported in `errors` and left for the next run. A teacher that cannot be reached at all is one line
  and exit 1, before the store is opened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from curator.envs.loader import Environment, EnvTask, load_environment
from curator.errors import CuratorError
from curator.model import short_hash

KEEP = ("all", "success")
EMBEDDED = "default"  # --teacher default: the embedded SmolLM2


class GenerateError(CuratorError):
    """Generation cannot start or go on (bad option, unreachable teacher); one line."""


@dataclass(frozen=True)
class GenerateConfig:
    """What `curator generate` runs (see `curator generate --help`)."""

    env: str = "sample"
    task_file: str | None = None
    split: str = "train"
    teacher: str = EMBEDDED
    teacher_model: str | None = None
    samples: int = 1
    temperature: float = 0.7
    max_steps: int = 6
    max_tokens: int = 512
    concurrency: int = 8
    keep: str = "all"
    limit: int | None = None
    retries: int = 4
    timeout_s: float = 120.0
    seed: int = 0

    @property
    def remote(self) -> bool:
        return self.teacher.startswith(("http://", "https://"))

    @property
    def teacher_name(self) -> str:
        return (self.teacher_model or self.teacher) if self.remote else self.teacher

    def check(self) -> None:
        for name, value, least in (
            ("--samples", self.samples, 1),
            ("--max-steps", self.max_steps, 1),
            ("--max-tokens", self.max_tokens, 1),
            ("--concurrency", self.concurrency, 1),
            ("--limit", self.limit if self.limit is not None else 1, 1),
        ):
            if value < least:
                raise GenerateError(f"{name} must be at least {least}, got {value}")
        if self.temperature < 0:
            raise GenerateError(f"--temperature must be at least 0, got {self.temperature}")
        if self.keep not in KEEP:
            raise GenerateError(f"--keep must be all or success, got {self.keep}")
        if self.remote and not self.teacher_model:
            raise GenerateError(
                "--teacher-model is required with an endpoint (the model name the server serves)"
            )

    def run_key(self, env: Environment) -> str:
        """What makes two invocations the same run (a re-run continues it): everything but K, the concurrency, the
        limit and the task list (episodes are keyed by task id, so tasks added to the file are simply new)."""
        return short_hash(
            {
                "env": env.name,
                "task_file": str(Path(self.task_file).resolve()) if self.task_file else None,
                "split": self.split,
                "teacher": self.teacher,
                "model": self.teacher_model,
                "temperature": self.temperature,
                "max_steps": self.max_steps,
                "max_tokens": self.max_tokens,
                "keep": self.keep,
                "seed": self.seed,
            }
        )


@dataclass
class Summary:
    """The `--json` result."""

    episodes: int = 0  # finished in this run
    stored: int = 0
    success: int = 0
    failure: int = 0
    duplicates: int = 0  # finished, but the same trajectory was already stored
    discarded: int = 0  # failures not kept (--keep success)
    skipped: int = 0  # finished by an earlier run
    errors: list[dict] = field(default_factory=list)
    tokens: int = 0
    wall_s: float = 0.0

    def to_dict(self, config: GenerateConfig, env: Environment, run_key: str) -> dict:
        d = dataclasses.asdict(self)
        d |= {
            "episodes_per_s": round(self.episodes / self.wall_s, 3) if self.wall_s else None,
            "tokens_per_s": round(self.tokens / self.wall_s, 1) if self.wall_s else None,
            "env": env.name,
            "split": config.split,
            "teacher": config.teacher_name,
            "run": run_key,
        }
        return d


# ---------------------------------------------------------------------------------------------------------------
# Episodes to stored trajectories.


def trajectory_of(episode, config: GenerateConfig, sample: int, run_key: str):
    """A finished episode as a pending trajectory with its label, reward, teacher, sampling and task."""
    from curator.importers.base import Context
    from curator.importers.openai_chat import parse

    task: EnvTask = episode.task
    result = episode.result()
    record = {"messages": episode.messages, "tools": episode.tools, "task_id": task.id}
    context = Context(path=f"generate:{task.env.name}", format="generate", teacher=config.teacher_name)
    (trajectory,) = parse(record, context, f"task {task.id} sample {sample}", None)
    meta = {
        "env": task.env.name,
        "task_id": task.id,
        "sample": sample,
        "run": run_key,
        "stopped": result["stopped"],
        "sampling": {
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "max_steps": config.max_steps,
            "seed": config.seed,
        },
    }
    label = "success" if result["success"] else "failure"
    return dataclasses.replace(trajectory, source_label=label, source_reward=result["reward"], meta=meta)


class Writer:
    """Writes each finished episode in one transaction: its trajectory (if kept) and its `generated_episodes` row."""

    def __init__(self, store, config: GenerateConfig, run_key: str, summary: Summary, env: Environment):
        self.store, self.config, self.run_key, self.summary, self.env = store, config, run_key, summary, env

    def done(self) -> set[tuple[str, int]]:
        rows = self.store.con.execute(
            "SELECT task_id, sample FROM generated_episodes WHERE run_key = ?", [self.run_key]
        ).fetchall()
        return {(t, s) for t, s in rows}

    def __call__(self, episode, sample: int) -> None:
        from curator.ingest import FileSummary, store_items

        trajectory = trajectory_of(episode, self.config, sample, self.run_key)
        label = trajectory.source_label
        kept = label == "success" or self.config.keep == "all"
        row = [
            self.run_key,
            episode.task.id,
            sample,
            self.env.name,
            self.config.teacher_name,
            label,
            trajectory.source_reward,
            kept,
            trajectory.traj_hash,
        ]

        def record() -> None:
            self.store.con.execute(
                "INSERT INTO generated_episodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())", row
            )

        s = self.summary
        s.episodes += 1
        s.success += label == "success"
        s.failure += label == "failure"
        if not kept:
            with self.store.transaction():
                record()
            s.discarded += 1
            return
        written = store_items(
            self.store,
            FileSummary(path=f"generate:{self.env.name}", format="generate"),
            [trajectory],
            self.config.teacher_name,
            record,
        )
        s.stored += written.imported
        s.duplicates += written.duplicates


# ---------------------------------------------------------------------------------------------------------------
# Teachers.


def native_reply(message) -> str:
    """An OpenAI chat message as the raw reply text the episode parses: its content, then each native tool call
    as a Hermes block (arguments kept as the server sent them, so broken JSON stays an invalid call)."""
    parts = [message.content or ""]
    for call in message.tool_calls or []:
        function = call.function
        parts.append(
            "<tool_call>\n"
            + json.dumps({"name": function.name, "arguments": function.arguments}, ensure_ascii=False)
            + "\n</tool_call>"
        )
    return "\n".join(p for p in parts if p)


def wire(messages: list[dict]) -> list[dict]:
    """Messages as the chat-completions API takes them (tool-call arguments as JSON strings)."""
    out = []
    for message in messages:
        message = dict(message)
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {
                    **c,
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False),
                    },
                }
                for c in message["tool_calls"]
            ]
        out.append(message)
    return out


def check_endpoint(config: GenerateConfig) -> None:
    """One request that proves the endpoint answers; a dead one is one line, before anything is written."""
    from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAI

    client = OpenAI(
        base_url=config.teacher,
        api_key=os.environ.get("OPENAI_API_KEY") or "none",
        max_retries=min(config.retries, 2),
        timeout=min(config.timeout_s, 30.0),
    )
    try:
        client.models.list()
    except (APIConnectionError, APITimeoutError) as exc:
        raise GenerateError(f"teacher {config.teacher}: cannot reach the endpoint ({exc})") from None
    except APIStatusError as exc:
        if exc.status_code in (401, 403):
            raise GenerateError(
                f"teacher {config.teacher}: refused ({exc.status_code}); set OPENAI_API_KEY"
            ) from None
        # some servers have no /models: the first episode will tell


async def _endpoint_episodes(
    config: GenerateConfig, jobs: list[tuple], write: Callable, summary: Summary, bar
) -> None:
    from openai import APIError, AsyncOpenAI

    from trainer.evaluate import Episode

    client = AsyncOpenAI(
        base_url=config.teacher,
        api_key=os.environ.get("OPENAI_API_KEY") or "none",
        max_retries=config.retries,
        timeout=config.timeout_s,
    )
    gate = asyncio.Semaphore(config.concurrency)

    async def one(task: EnvTask, sample: int) -> None:
        async with gate:
            try:
                episode = Episode(task, config.max_steps)
                while not episode.done:
                    response = await client.chat.completions.create(
                        model=config.teacher_model,
                        messages=wire(episode.messages),
                        tools=episode.tools,
                        temperature=config.temperature,
                        max_tokens=config.max_tokens,
                    )
                    if response.usage is not None:
                        summary.tokens += response.usage.completion_tokens or 0
                    episode.advance(native_reply(response.choices[0].message))
            except (APIError, IndexError) as exc:
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                summary.errors.append({"task_id": task.id, "sample": sample, "reason": reason})
                bar.update(1)
                return
            write(episode, sample)
            bar.update(1)
            bar.set_postfix(stored=summary.stored, success=summary.success)

    try:
        await asyncio.gather(*(one(task, sample) for task, sample in jobs))
    finally:
        await client.close()


def _local_policy(config: GenerateConfig):
    from trainer.policy import ModelPolicy, adapter_base

    teacher = None if config.teacher == EMBEDDED else config.teacher
    if teacher is not None and (Path(teacher) / "adapter_config.json").is_file():
        return ModelPolicy(
            adapter_base(teacher),
            teacher,
            max_new_tokens=config.max_tokens,
            temperature=config.temperature,
            seed=config.seed,
        )
    return ModelPolicy(
        teacher, max_new_tokens=config.max_tokens, temperature=config.temperature, seed=config.seed
    )


def _local_episodes(
    config: GenerateConfig, jobs: list[tuple], write: Callable, summary: Summary, bar
) -> None:
    from trainer.evaluate import Episode, run_episodes

    policy = _local_policy(config)
    samples: dict[int, int] = {}  # id(episode) -> its sample number

    def on_done(episode) -> None:
        write(episode, samples[id(episode)])
        bar.update(1)
        bar.set_postfix(stored=summary.stored, success=summary.success)

    try:
        for start in range(0, len(jobs), policy.batch_size):
            group = jobs[start : start + policy.batch_size]
            episodes = [Episode(task, config.max_steps) for task, _ in group]
            samples.update({id(e): sample for e, (_, sample) in zip(episodes, group, strict=True)})
            tokens_before = policy.generated_tokens
            run_episodes(policy, episodes, on_done)
            summary.tokens += policy.generated_tokens - tokens_before
    finally:
        policy.close()


# ---------------------------------------------------------------------------------------------------------------
# The command.


def run_coroutine(coroutine) -> None:
    """Run the endpoint loop to its end, also when the caller already runs an event loop.

    A notebook or a Playwright session keeps a loop running in this thread, where `asyncio.run`
    refuses; there the loop gets a thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def generate(config: GenerateConfig, db=None, show_progress: bool = True) -> dict:
    """Run the teacher on the tasks and store the episodes; returns the summary (see `Summary`)."""
    from tqdm.auto import tqdm

    from curator.store import Store

    config.check()
    env = load_environment(config.env, config.task_file)
    tasks = env.select(config.split, config.limit)
    env.preflight(tasks)
    if config.remote:
        check_endpoint(config)
    else:
        from trainer.base import resolve_base
        from trainer.errors import TrainerError

        if config.teacher != EMBEDDED and not (Path(config.teacher) / "adapter_config.json").is_file():
            try:
                resolve_base(config.teacher)  # a bad model name fails here, in one line
            except TrainerError as exc:
                raise GenerateError(f"teacher {config.teacher}: {exc}") from None
    run_key = config.run_key(env)
    summary = Summary()
    with Store(db) as store:
        writer = Writer(store, config, run_key, summary, env)
        done = writer.done()
        jobs = [(t, k) for t in tasks for k in range(config.samples) if (t.id, k) not in done]
        summary.skipped = len(tasks) * config.samples - len(jobs)
        started = time.perf_counter()
        with tqdm(total=len(jobs), desc="generate", file=sys.stderr, disable=not show_progress) as bar:
            if config.remote:
                run_coroutine(_endpoint_episodes(config, jobs, writer, summary, bar))
            else:
                _local_episodes(config, jobs, writer, summary, bar)
        summary.wall_s = round(time.perf_counter() - started, 3)
    if jobs and summary.episodes == 0:
        first = summary.errors[0]
        raise GenerateError(
            f"teacher {config.teacher_name}: all {len(jobs)} episodes failed; the first "
            f"(task {first['task_id']} sample {first['sample']}): {first['reason']}"
        )
    return summary.to_dict(config, env, run_key)
