"""Generating trajectories (SPEC 11, `curator generate`): a teacher runs an environment's tasks, every call is
executed in a fresh environment instance, the episode is scored with `get_reward` and stored as a pending
trajectory with its score as the source label (the seed's data synthesis by rejection sampling).

- Teachers: an OpenAI-compatible chat-completions endpoint with tools (`--teacher http://...`: vLLM, SGLang, TGI,
  Ollama, OpenAI, `transformers serve`), through the `openai` client with `--concurrency N` requests in flight;
  the server's native `tool_calls` are used where it parses them, Hermes `<tool_call>` text in the content where
  it does not (both go through `trainer.evaluate.parse_reply`, as evaluation does). Or a local model (the embedded
  default, a Hugging Face id or folder, an adapter folder) through the batched, cached `trainer.policy.ModelPolicy`.
- An episode is the evaluation's `trainer.evaluate.Episode`: the same parsing, execution and scoring.
- A finished episode becomes a record (`episode_record`: plain JSON, the messages and everything its label needs);
  `store_episodes` writes records in one transaction: the trajectories (unless `--keep success` drops a failure)
  and their rows in `generated_episodes` (run key, task id, sample number). A re-run of the same command skips
  the episodes those rows record, so a killed run continues where it stopped and nothing is stored twice. The
  app's generation jobs (`curator.genjobs`) write the same records to a file and store them with the same call.
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
FORMAT = "generate"  # the source format of generated trajectories


class GenerateError(CuratorError):
    """Generation cannot start or go on (bad option, unreachable teacher); one line."""


def _setting(default, text: str):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class GenerateConfig:
    """What `curator generate` runs; each field's help is the CLI flag's and the Generate tab's text."""

    env: str = _setting("sample", "sample, sql, path/to/file.py:ClassName or package.module:ClassName")
    task_file: str | None = _setting(
        None, "tasks (JSONL or a datasets folder); the built-ins carry their own"
    )
    split: str = _setting("train", "which tasks: train or eval")
    teacher: str = _setting(
        EMBEDDED,
        "an OpenAI-compatible endpoint (http://HOST:PORT/v1; key from OPENAI_API_KEY), or a local model: "
        f"{EMBEDDED} (the embedded SmolLM2), a Hugging Face id or folder, or an adapter folder",
    )
    teacher_model: str | None = _setting(None, "the model name at the endpoint")
    samples: int = _setting(1, "episodes per task")
    temperature: float = _setting(0.7, "sampling temperature")
    max_steps: int = _setting(6, "assistant turns per episode")
    max_tokens: int = _setting(512, "tokens per assistant turn")
    concurrency: int = _setting(8, "requests in flight (endpoint)")
    keep: str = _setting(
        "all", "store every episode, or only successes (rejection sampling; the rest are counted)"
    )
    limit: int | None = _setting(None, "the first N tasks of the split")
    retries: int = _setting(4, "retries of a failed request, with backoff")
    timeout_s: float = _setting(120.0, "seconds one request may take")
    seed: int = _setting(0, "sampling seed of a local teacher")

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


def help_of(name: str) -> str:
    """A GenerateConfig field's help text."""
    return GenerateConfig.__dataclass_fields__[name].metadata["help"]


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

    def count(self, record: dict) -> None:
        """A finished episode (an `episode_record`), stored or not."""
        self.episodes += 1
        self.success += record["label"] == "success"
        self.failure += record["label"] == "failure"
        self.discarded += not record["kept"]

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


def episode_record(episode, config: GenerateConfig, sample: int, run_key: str) -> dict:
    """A finished episode as plain JSON: its messages and tools, label and reward, whether `--keep` keeps it,
    and what identifies it (run key, environment, task id, sample number)."""
    task: EnvTask = episode.task
    result = episode.result()
    label = "success" if result["success"] else "failure"
    return {
        "run": run_key,
        "env": task.env.name,
        "task_id": task.id,
        "sample": sample,
        "teacher": config.teacher_name,
        "label": label,
        "reward": result["reward"],
        "kept": label == "success" or config.keep == "all",
        "stopped": result["stopped"],
        "sampling": {
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "max_steps": config.max_steps,
            "seed": config.seed,
        },
        "messages": episode.messages,
        "tools": episode.tools,
    }


def trajectory_of(record: dict):
    """An episode record as a pending trajectory with its label, reward, teacher, sampling and task in `meta`."""
    from curator.importers.base import Context
    from curator.importers.openai_chat import parse

    task_id = record["task_id"]
    chat = {"messages": record["messages"], "tools": record["tools"], "task_id": task_id}
    context = Context(path=f"generate:{record['env']}", format=FORMAT, teacher=record["teacher"])
    (trajectory,) = parse(chat, context, f"task {task_id} sample {record['sample']}", None)
    meta = {k: record[k] for k in ("env", "task_id", "sample", "run", "stopped", "sampling")}
    return dataclasses.replace(
        trajectory, source_label=record["label"], source_reward=record["reward"], meta=meta
    )


def store_episodes(
    store, records: list[dict], summary: Summary, also: Callable[[int, int], None] | None = None
) -> None:
    """Write episode records in one transaction: the kept ones' trajectories (`summary.stored`, `duplicates`),
    every one's `generated_episodes` row (what a re-run skips), and `also(stored, duplicates)`: the caller's own
    bookkeeping, in the same transaction."""
    from curator.ingest import FileSummary, store_items

    trajectories = [trajectory_of(r) for r in records]
    rows = [
        [
            r["run"],
            r["task_id"],
            r["sample"],
            r["env"],
            r["teacher"],
            r["label"],
            r["reward"],
            r["kept"],
            t.traj_hash,
        ]
        for r, t in zip(records, trajectories, strict=True)
    ]
    written = FileSummary(path=f"generate:{records[0]['env']}", format=FORMAT)

    def record() -> None:
        store.con.executemany(
            "INSERT INTO generated_episodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())", rows
        )
        if also is not None:
            also(written.imported, written.duplicates)

    kept = [t for r, t in zip(records, trajectories, strict=True) if r["kept"]]
    if kept:
        store_items(store, written, kept, records[0]["teacher"], record)
    else:
        with store.transaction():
            record()
    summary.stored += written.imported
    summary.duplicates += written.duplicates


def episodes_done(store, run_key: str) -> set[tuple[str, int]]:
    """The (task id, sample) pairs of a run the store has finished."""
    rows = store.con.execute(
        "SELECT task_id, sample FROM generated_episodes WHERE run_key = ?", [run_key]
    ).fetchall()
    return {(t, s) for t, s in rows}


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


class Steps:
    """Where each episode ends: a finished one becomes a record for `write` and is counted, a failed one is
    listed in `errors`; after either the bar moves and `on_step(summary, total)` is told."""

    def __init__(self, config: GenerateConfig, run_key: str, write: Callable, summary: Summary, bar, on_step):
        self.config, self.run_key, self.write, self.summary = config, run_key, write, summary
        self.bar, self.on_step = bar, on_step

    def finished(self, episode, sample: int) -> None:
        record = episode_record(episode, self.config, sample, self.run_key)
        self.summary.count(record)
        self.write(record)
        self.tick()

    def failed(self, task: EnvTask, sample: int, reason: str) -> None:
        self.summary.errors.append({"task_id": task.id, "sample": sample, "reason": reason})
        self.tick()

    def tick(self) -> None:
        self.bar.update(1)
        self.bar.set_postfix(success=self.summary.success, failure=self.summary.failure)
        if self.on_step is not None:
            self.on_step(self.summary, self.bar.total)


async def _endpoint_episodes(config: GenerateConfig, jobs: list[tuple], steps: Steps) -> None:
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
                        steps.summary.tokens += response.usage.completion_tokens or 0
                    episode.advance(native_reply(response.choices[0].message))
            except (APIError, IndexError) as exc:
                steps.failed(task, sample, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
                return
            steps.finished(episode, sample)

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


def _local_episodes(config: GenerateConfig, jobs: list[tuple], steps: Steps) -> None:
    from trainer.evaluate import Episode, run_episodes

    policy = _local_policy(config)
    samples: dict[int, int] = {}  # id(episode) -> its sample number

    def on_done(episode) -> None:
        steps.finished(episode, samples[id(episode)])

    try:
        for start in range(0, len(jobs), policy.batch_size):
            group = jobs[start : start + policy.batch_size]
            episodes = [Episode(task, config.max_steps) for task, _ in group]
            samples.update({id(e): sample for e, (_, sample) in zip(episodes, group, strict=True)})
            tokens_before = policy.generated_tokens
            run_episodes(policy, episodes, on_done)
            steps.summary.tokens += policy.generated_tokens - tokens_before
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


def load_tasks(config: GenerateConfig) -> tuple[Environment, list[EnvTask]]:
    """The environment and the tasks a config runs; a bad option, environment or task is one line."""
    config.check()
    env = load_environment(config.env, config.task_file)
    tasks = env.select(config.split, config.limit)
    env.preflight(tasks)
    return env, tasks


def check_teacher(config: GenerateConfig) -> None:
    """An endpoint that does not answer, or a local model that does not exist, is one line."""
    if config.remote:
        check_endpoint(config)
        return
    from trainer.base import resolve_base
    from trainer.errors import TrainerError

    if config.teacher != EMBEDDED and not (Path(config.teacher) / "adapter_config.json").is_file():
        try:
            resolve_base(config.teacher)  # a bad model name fails here, in one line
        except TrainerError as exc:
            raise GenerateError(f"teacher {config.teacher}: {exc}") from None


def produce(
    config: GenerateConfig,
    env: Environment,
    tasks: list[EnvTask],
    done: set[tuple[str, int]],
    write: Callable[[dict], None],
    summary: Summary,
    *,
    show_progress: bool = True,
    on_step: Callable[[Summary, int], None] | None = None,
) -> dict:
    """Run the teacher on every (task, sample) not `done`, each finished episode's record to `write`; returns
    the summary (see `Summary`). `on_step(summary, total)` is told at the start and after each episode."""
    from tqdm.auto import tqdm

    run_key = config.run_key(env)
    jobs = [(t, k) for t in tasks for k in range(config.samples) if (t.id, k) not in done]
    summary.skipped = len(tasks) * config.samples - len(jobs)
    started = time.perf_counter()
    with tqdm(total=len(jobs), desc="generate", file=sys.stderr, disable=not show_progress) as bar:
        steps = Steps(config, run_key, write, summary, bar, on_step)
        if on_step is not None:
            on_step(summary, len(jobs))
        if config.remote:
            run_coroutine(_endpoint_episodes(config, jobs, steps))
        else:
            _local_episodes(config, jobs, steps)
    summary.wall_s = round(time.perf_counter() - started, 3)
    if jobs and summary.episodes == 0:
        first = summary.errors[0]
        raise GenerateError(
            f"teacher {config.teacher_name}: all {len(jobs)} episodes failed; the first "
            f"(task {first['task_id']} sample {first['sample']}): {first['reason']}"
        )
    return summary.to_dict(config, env, run_key)


def generate(config: GenerateConfig, db=None, show_progress: bool = True) -> dict:
    """Run the teacher on the tasks and store each episode as it finishes; returns the summary (see `Summary`)."""
    from curator.store import Store

    env, tasks = load_tasks(config)
    check_teacher(config)
    summary = Summary()
    with Store(db) as store:
        done = episodes_done(store, config.run_key(env))
        return produce(
            config,
            env,
            tasks,
            done,
            lambda record: store_episodes(store, [record], summary),
            summary,
            show_progress=show_progress,
        )
