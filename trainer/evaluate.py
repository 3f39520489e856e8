"""Evaluation harness: run a policy (the base model, or base + adapter) as an agent on the held-out tasks of an
environment (`--env`, SPEC 11; the built-in sample world by default), execute its tool calls against the real tools,
and score every task with the environment's `get_reward` (SPEC 7, 8). Environments are reached only through the
contract (`curator.envs.contract`, `curator.envs.loader`).

A *policy* is any callable `(messages, tools) -> str`: it gets the conversation so far (OpenAI form) and the tool
specs, and returns the assistant's raw text. A policy with a `session(tools)` method answers many conversations at
once: `trainer.policy.ModelPolicy`, a Hugging Face causal LM (+ a PEFT adapter), batches all episodes and reuses
their cache from turn to turn. Tests use scripted policies. The episodes of an evaluation run together, turn by
turn (`run_episodes`); each one is independent of the others.

One episode (`run_episode`): the system prompt and the task's instruction, then up to `max_steps` assistant turns.
Each reply is parsed by `parse_reply`:

- Tool calls are Hermes-style blocks, `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`, one or
  more per turn (an unclosed block at the end of the text is still a block). When a reply holds no `<tool_call>`
  tag, a bare JSON object that starts like a call (`{"name": ...`) is taken as a call attempt too.
- An *attempted* call is a block, or bare call-like JSON. It is *valid* when its text is exactly one JSON object
  with a non-empty string `name` and `arguments` that is a JSON object (or a string holding one, as in the
  OpenAI wire form). Anything else (broken JSON, no name, arguments missing or not an object) is *invalid*.
- A reply with no attempted call is the final answer (its whole text, stripped); the episode ends there. An empty
  reply is an empty final answer, which every checker rejects.
- Valid calls are executed in order in the episode's own environment instance and their results returned as tool
  messages, so the model sees real errors for unknown tools and bad arguments. Invalid calls are not executed: each
  gets the tool result `{"error": "invalid tool call: ..."}` and the episode goes on (the model may repair it).
  The assistant turn is stored in structured form (content = thought, `tool_calls`) when all its calls are valid,
  so the next prompt renders exactly as training data does; a turn with an invalid call is stored as its raw text.
- The episode also ends at `max_steps` assistant turns without a final answer, or when the conversation no longer
  fits the model's context (`ContextFull`): the task fails. Any other exception from a policy is a bug, not model
  behaviour, and propagates.
- Calls to tools that are not offered are not executed: they get `{"error": "unknown tool NAME"}`.

Metrics (`evaluate`), pooled over all calls of all tasks (None where the denominator is 0):

- `task_success`: tasks whose reward (`get_reward(final_answer=...)`) reaches the task's success threshold / tasks.
- `valid_tool_call_rate`: valid calls / attempted calls.
- `unknown_tool_rate`: valid calls naming a tool not in the offered tools / valid calls ("hallucinated tools").
- `schema_valid_rate`: calls to offered tools whose arguments pass the tool's JSON schema
  (`curator.checks.schema_problems`) / calls to offered tools.
- `mean_steps`: assistant turns per episode (the final-answer turn included).

Everything returned is JSON-serialisable: the metrics, the raw counts, and one transcript per task.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from curator.checks import schema_problems
from curator.envs.contract import EnvError, call_tool, result_text, reward_of
from curator.envs.loader import EnvTask, load_environment
from trainer.errors import TrainerError, require_adapter
from trainer.policy import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS, ContextFull, ModelPolicy, adapter_base

DEFAULT_MAX_STEPS = 6
METRICS = ("task_success", "valid_tool_call_rate", "unknown_tool_rate", "schema_valid_rate", "mean_steps")

Progress = Callable[[int, int], None]


class Policy(Protocol):
    def __call__(self, messages: list[dict], tools: list[dict]) -> str: ...


# ---------------------------------------------------------------------------------------------------------------
# Parsing a reply.

_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_BARE_START = re.compile(r'\{\s*"name"\s*:')
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _call_of(text: str) -> dict:
    """One attempted call from its JSON text: {"name", "arguments", "error", "text"}; `error` None when valid."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    call = {"name": None, "arguments": None, "error": None, "text": text.strip()}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        call["error"] = f"not valid JSON ({getattr(exc, 'msg', type(exc).__name__)})"
        return call
    if not isinstance(value, dict):
        call["error"] = "not a JSON object with name and arguments"
        return call
    name, arguments = value.get("name"), value.get("arguments")
    if isinstance(name, str) and name.strip():
        call["name"] = name.strip()
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError, RecursionError):
            arguments = json.loads(arguments)
    if isinstance(arguments, dict):
        call["arguments"] = arguments
    if call["name"] is None:
        call["error"] = "no tool name"
    elif call["arguments"] is None:
        call["error"] = "arguments missing" if "arguments" not in value else "arguments are not a JSON object"
    return call


def _bare_calls(text: str) -> tuple[list[dict], list[tuple[int, int]]]:
    """Bare call-like JSON objects in a text without tags, and their spans."""
    decoder, calls, spans, pos = json.JSONDecoder(), [], [], 0
    while (match := _BARE_START.search(text, pos)) is not None:
        start = match.start()
        try:
            _, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            end = len(text)  # broken JSON: the rest of the text is the failed attempt
        calls.append(_call_of(text[start:end]))
        spans.append((start, end))
        pos = end
    return calls, spans


def parse_reply(text: str) -> tuple[str, list[dict] | None, str | None, str | None]:
    """Split an assistant reply into (thought, calls, final, error).

    `calls` is None when the reply attempts no call; otherwise every attempt in order, each a dict
    {"name", "arguments", "error", "text"} whose `error` is None for a valid call. `final` is the final answer
    (the stripped text) when there is no attempt, else None. `error` is None when every attempt is valid, else the
    reasons of the invalid ones joined with "; ".
    """
    text = text or ""
    if "<tool_call>" in text:
        calls, spans = [], []
        for match in _BLOCK.finditer(text):
            calls.append(_call_of(match.group(1)))
            spans.append(match.span())
    else:
        calls, spans = _bare_calls(text)
    if not calls:
        return text.strip(), None, text.strip(), None
    outside, pos = [], 0
    for start, end in spans:
        outside.append(text[pos:start])
        pos = end
    outside.append(text[pos:])
    thought = "\n".join(p.strip() for p in outside if p.strip()).replace("</tool_call>", "").strip()
    errors = [f"call {i + 1}: {c['error']}" for i, c in enumerate(calls) if c["error"]]
    return thought, calls, None, "; ".join(errors) or None


# ---------------------------------------------------------------------------------------------------------------
# Episodes and metrics.


def _tool_specs(tools: Sequence[dict]) -> dict[str, dict]:
    specs = {}
    for tool in tools:
        fn = tool.get("function", tool)
        specs[fn["name"]] = fn.get("parameters") or {}
    return specs


def _as_task(task: EnvTask | str) -> EnvTask:
    """A task, or a task id of the built-in sample environment."""
    if isinstance(task, EnvTask):
        return task
    found = [t for t in load_environment("sample").tasks if t.id == task]
    if not found:
        raise TrainerError(f"unknown task {task!r}")
    return found[0]


class Episode:
    """One task in progress: the conversation, the episode's environment instance, and what happened so far.

    `advance(reply)` takes the assistant's next raw reply (or the ContextFull that stopped it) and runs its tool
    calls; `done` tells when the task has a final answer, hit `max_steps`, or ran out of context.
    """

    def __init__(
        self, task: EnvTask | str, max_steps: int = DEFAULT_MAX_STEPS, tools: Sequence[dict] | None = None
    ):
        self.task, self.max_steps = _as_task(task), max_steps
        self.tools = list(self.task.env.tools if tools is None else tools)  # `tools`: offer only these
        self.specs = _tool_specs(self.tools)
        self.env, self.messages = self.task.env.start(self.task)
        self.counts = {"attempted": 0, "valid": 0, "unknown": 0, "known": 0, "schema_valid": 0}
        self.steps: list[dict] = []
        self.final, self.stopped = None, "step_limit"
        self.done = False

    def _run(self, call: dict) -> tuple[dict, dict]:
        """Execute one attempted call: its transcript entry and the tool result returned to the model."""
        counts = self.counts
        counts["attempted"] += 1
        entry = {
            "name": call["name"],
            "arguments": call["arguments"],
            "valid": call["error"] is None,
            "error": call["error"],
            "known": None,
            "schema_problems": None,
        }
        if call["error"] is not None:
            result = {"error": f"invalid tool call: {call['error']}"}
        else:
            counts["valid"] += 1
            entry["known"] = call["name"] in self.specs
            if entry["known"]:
                counts["known"] += 1
                entry["schema_problems"] = schema_problems(call["arguments"], self.specs[call["name"]])
                counts["schema_valid"] += not entry["schema_problems"]
                result = call_tool(self.env, self.specs, call["name"], call["arguments"])
            else:
                counts["unknown"] += 1
                result = {"error": f"unknown tool {call['name']}"}
        entry["result"] = result
        return entry, result

    def advance(self, reply: str | ContextFull) -> None:
        if isinstance(reply, ContextFull):
            self.stopped, self.done = f"context_full: {reply}", True
            return
        raw = reply if isinstance(reply, str) else str(reply)
        step = len(self.steps)
        thought, calls, answer, error = parse_reply(raw)
        record = {"step": step, "raw": raw, "thought": thought, "calls": [], "final": answer, "error": error}
        self.steps.append(record)
        if calls is None:
            self.final, self.stopped, self.done = answer, "final", True
            self.messages.append({"role": "assistant", "content": answer})
            return
        results = []
        for call in calls:
            entry, result = self._run(call)
            record["calls"].append(entry)
            results.append((call, result))
        if error is None:
            self.messages.append(
                {
                    "role": "assistant",
                    "content": thought,
                    "tool_calls": [
                        {
                            "id": f"call_{step}_{i}",
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for i, c in enumerate(calls)
                    ],
                }
            )
        else:
            self.messages.append({"role": "assistant", "content": raw.strip()})
        for i, (call, result) in enumerate(results):
            message = {
                "role": "tool",
                "tool_call_id": f"call_{step}_{i}",
                "content": result_text(result),
            }
            if call["error"] is None:
                message["name"] = call["name"]
            self.messages.append(message)
        self.done = len(self.steps) >= self.max_steps

    def reward(self) -> float:
        """The environment's score of the episode, given its final answer (computed once)."""
        if not hasattr(self, "_reward"):
            try:
                self._reward = reward_of(self.env, self.final)
            except Exception as exc:  # noqa: BLE001 - the user's environment: one line with the task id
                raise EnvError(
                    f"environment {self.task.env.name}: get_reward() raised for task {self.task.id}: "
                    f"{type(exc).__name__}: {exc}".splitlines()[0]
                ) from None
        return self._reward

    def result(self) -> dict:
        """The transcript, counts, reward and success (the reward reaches the task's threshold)."""
        task, reward = self.task, self.reward()
        return {
            "task_id": task.id,
            "instruction": task.instruction,
            "success": reward >= task.success_threshold,
            "reward": reward,
            "stopped": self.stopped,
            "final_answer": self.final,
            "steps_taken": len(self.steps),
            "counts": self.counts,
            "steps": self.steps,
        }


def replier(policy: Policy, tools: Sequence[dict]) -> Callable[[dict], dict]:
    """{key: messages} -> {key: reply or ContextFull}: the policy's own batched `session` where it has one
    (ModelPolicy), else one call per conversation, each handed a copy it may change."""
    if callable(getattr(policy, "session", None)):
        return policy.session(list(tools))

    def one_by_one(conversations: dict) -> dict:
        replies = {}
        for key, messages in conversations.items():
            try:
                replies[key] = policy(copy.deepcopy(messages), list(tools))
            except ContextFull as exc:
                replies[key] = exc
        return replies

    return one_by_one


def run_episodes(
    policy: Policy, episodes: Sequence[Episode], on_done: Callable[[Episode], None] | None = None
) -> None:
    """Advance all episodes together, turn by turn, until each is done (the policy answers them as one batch;
    they share one environment, so one tool list)."""
    if not episodes:
        return
    reply = replier(policy, episodes[0].tools)
    while live := {i: e for i, e in enumerate(episodes) if not e.done}:
        replies = reply({i: e.messages for i, e in live.items()})
        for i, episode in live.items():
            episode.advance(replies[i])
            if episode.done and on_done:
                on_done(episode)


def run_episode(
    policy: Policy,
    task: EnvTask | str,
    max_steps: int = DEFAULT_MAX_STEPS,
    tools: Sequence[dict] | None = None,
) -> dict:
    """Run one task to a final answer or the step limit; return its transcript, counts and success."""
    episode = Episode(task, max_steps, tools)
    run_episodes(policy, [episode])
    return episode.result()


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def metrics_of(episodes: Sequence[dict]) -> dict:
    """The pooled metrics of finished episodes (see the module docstring)."""
    totals = {
        k: sum(e["counts"][k] for e in episodes)
        for k in ("attempted", "valid", "unknown", "known", "schema_valid")
    }
    n = len(episodes)
    return {
        "task_success": _rate(sum(e["success"] for e in episodes), n),
        "valid_tool_call_rate": _rate(totals["valid"], totals["attempted"]),
        "unknown_tool_rate": _rate(totals["unknown"], totals["valid"]),
        "schema_valid_rate": _rate(totals["schema_valid"], totals["known"]),
        "mean_steps": round(sum(e["steps_taken"] for e in episodes) / n, 3) if n else None,
        "counts": {
            "tasks": n,
            "solved": sum(e["success"] for e in episodes),
            **totals,
            "step_limit": sum(e["stopped"] == "step_limit" for e in episodes),
        },
    }


def select_tasks(
    tasks: Iterable[EnvTask | str] | int | None = None,
    env: str = "sample",
    task_file: str | Path | None = None,
    split: str | None = "eval",
) -> list[EnvTask]:
    """Tasks to run: all tasks of the environment's split (None), the first N (an int), or the given tasks or
    task ids (of that environment)."""
    if isinstance(tasks, int) and tasks < 1:
        raise TrainerError(f"--tasks must be at least 1, got {tasks}")
    if tasks is not None and not isinstance(tasks, int):
        tasks = list(tasks)
        if all(isinstance(t, EnvTask) for t in tasks):
            return tasks
    try:
        environment = load_environment(env, task_file)
        if tasks is None or isinstance(tasks, int):
            return environment.select(split, tasks)
    except EnvError as exc:  # the trainer's own error: its commands print one line
        raise TrainerError(str(exc)) from None
    by_id = {t.id: t for t in environment.tasks}
    for t in tasks:
        if not isinstance(t, EnvTask) and t not in by_id:
            raise TrainerError(f"unknown task {t!r} in environment {env}")
    return [t if isinstance(t, EnvTask) else by_id[t] for t in tasks]


def benchmark_tasks(tasks: Iterable[EnvTask | str] | int | None, config) -> list[EnvTask]:
    """The agent benchmark's tasks for a training config: its environment, task file and split."""
    return select_tasks(tasks, config.eval_env, config.eval_task_file, config.eval_split)


def evaluate(
    policy: Policy,
    tasks: Iterable[EnvTask | str] | int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    progress: Progress | None = None,
    *,
    desc: str = "eval",
    show_progress: bool = True,
) -> dict:
    """Run `policy` on the tasks; return the metrics, raw counts and one transcript per task.

    The episodes run together, in batches of the policy's `batch_size` (all at once for a policy without one).
    `progress(done, total)` is called as each task finishes (and once with 0 before the first); a tqdm bar goes to
    stderr unless `show_progress` is False.
    """
    from tqdm.auto import tqdm

    chosen = select_tasks(tasks)
    if max_steps < 1:
        raise TrainerError(f"--max-steps must be at least 1, got {max_steps}")
    started = time.perf_counter()
    episodes: list[Episode] = []
    done = {"tasks": 0, "solved": 0}
    if progress:
        progress(0, len(chosen))
    with tqdm(total=len(chosen), desc=desc, disable=not show_progress, file=sys.stderr, leave=False) as bar:

        def on_done(episode: Episode) -> None:
            done["tasks"] += 1
            done["solved"] += episode.result()["success"]
            bar.update(1)
            bar.set_postfix(solved=done["solved"])
            if progress:
                progress(done["tasks"], len(chosen))

        size = max(1, getattr(policy, "batch_size", None) or len(chosen))
        for start in range(0, len(chosen), size):
            group = [Episode(task, max_steps) for task in chosen[start : start + size]]
            run_episodes(policy, group, on_done)
            episodes.extend(group)
    transcripts = [e.result() for e in episodes]
    return {
        **metrics_of(transcripts),
        "max_steps": max_steps,
        "wall_s": round(time.perf_counter() - started, 2),
        "transcripts": transcripts,
    }


def compare(
    base_policy: Policy,
    tuned_policy: Policy | None,
    tasks: Iterable[EnvTask | str] | int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    progress: Progress | None = None,
    *,
    show_progress: bool = True,
) -> dict:
    """Base vs tuned on the same tasks: {"tasks", "task_ids", "base", "tuned"} (`tuned` None without a tuned policy).

    The sides run one after the other; a policy with a `close()` method is closed after its side (ModelPolicy
    frees its model), so two large models are never held at once. `progress(done, total)` counts over both sides.
    """
    chosen = select_tasks(tasks)
    sides = [("base", base_policy)] + ([("tuned", tuned_policy)] if tuned_policy is not None else [])
    total = len(chosen) * len(sides)
    result: dict = {
        "tasks": len(chosen),
        "env": chosen[0].env.name if chosen and chosen[0].env else None,
        "task_ids": [t.id for t in chosen],
        "tuned": None,
    }
    for k, (side, policy) in enumerate(sides):
        offset = k * len(chosen)
        side_progress = (lambda done, _n, o=offset: progress(o + done, total)) if progress else None
        try:
            result[side] = evaluate(
                policy, chosen, max_steps, side_progress, desc=side, show_progress=show_progress
            )
        finally:
            if callable(getattr(policy, "close", None)):
                policy.close()
    return result


# ---------------------------------------------------------------------------------------------------------------
# Command line glue (`curator eval`, `python -m trainer eval`).


def add_env_args(parser: argparse.ArgumentParser, split: str) -> None:
    """`--env`, `--task-file`, `--split`: which environment and tasks (shared by eval and generate)."""
    parser.add_argument(
        "--env",
        default="sample",
        metavar="ENV",
        help="sample, sql, path/to/file.py:ClassName or package.module:ClassName (default: sample)",
    )
    parser.add_argument(
        "--task-file",
        metavar="FILE",
        help="tasks (JSONL or a datasets folder); the built-ins carry their own",
    )
    parser.add_argument(
        "--split", default=split, choices=("train", "eval"), help=f"which tasks (default: {split})"
    )


def add_eval_args(parser: argparse.ArgumentParser) -> None:
    add_env_args(parser, "eval")
    parser.add_argument(
        "--adapter",
        metavar="DIR",
        help="adapter folder to evaluate against its base (e.g. RUN/dpo/adapter); "
        "without it only the base is evaluated",
    )
    parser.add_argument(
        "--base",
        metavar="MODEL",
        help="Hugging Face id or local folder; default: the adapter's base, else the "
        "embedded SmolLM2-135M-Instruct",
    )
    parser.add_argument(
        "--tasks", type=int, metavar="N", help="the first N tasks of the split (default: all)"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        default=DEFAULT_MAX_STEPS,
        help=f"assistant turns per task (default {DEFAULT_MAX_STEPS})",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="N",
        default=DEFAULT_MAX_NEW_TOKENS,
        help=f"tokens per assistant turn (default {DEFAULT_MAX_NEW_TOKENS})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        default=DEFAULT_BATCH_SIZE,
        help=f"episodes generating together; their cache grows with it (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def cmd_eval(args: argparse.Namespace) -> dict:
    """Evaluate the base (and base + adapter with `--adapter`) on an environment's tasks; see `compare`.

    Both sides render prompts with the same template: the adapter's when one is given (the one training used).
    """
    tasks = select_tasks(
        getattr(args, "tasks", None),
        getattr(args, "env", None) or "sample",
        getattr(args, "task_file", None),
        getattr(args, "split", None) or "eval",
    )
    try:
        tasks[0].env.preflight(tasks)
    except EnvError as exc:
        raise TrainerError(str(exc)) from None
    adapter = getattr(args, "adapter", None)
    base = getattr(args, "base", None)
    max_new = getattr(args, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if max_new is None or max_new < 1:
        raise TrainerError(f"--max-new-tokens must be at least 1, got {max_new}")
    batch = getattr(args, "batch_size", DEFAULT_BATCH_SIZE)
    if batch is None or batch < 1:
        raise TrainerError(f"--batch-size must be at least 1, got {batch}")
    if adapter is not None:
        require_adapter(adapter)
    if adapter is not None and base is None:
        base = adapter_base(adapter)
    from trainer.base import resolve_base

    resolve_base(None if base is None else str(base))  # a bad --base fails here, before any progress bar
    base_policy = ModelPolicy(base, tokenizer_dir=adapter, max_new_tokens=max_new, batch_size=batch)
    tuned_policy = (
        ModelPolicy(base, adapter, max_new_tokens=max_new, batch_size=batch) if adapter is not None else None
    )
    try:
        result = compare(
            base_policy, tuned_policy, tasks, getattr(args, "max_steps", None) or DEFAULT_MAX_STEPS
        )
    except EnvError as exc:  # the user's environment failed on a task: one line, as the trainer's errors are
        raise TrainerError(str(exc)) from None
    result["base_model"] = None if base is None else str(base)
    result["adapter"] = None if adapter is None else str(adapter)
    for side, policy in (("base", base_policy), ("tuned", tuned_policy)):
        if policy is not None and result.get(side):
            result[side]["tokens_per_s"] = (
                round(policy.generated_tokens / policy.generate_s, 1) if policy.generate_s else None
            )
    return result


def _fmt(value, pct: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if pct else f"{value:.2f}"


def summary(result: dict) -> str:
    """The human summary of a `compare` / `cmd_eval` result: a metrics table and the tasks that changed."""
    sides = [s for s in ("base", "tuned") if result.get(s)]
    lines = [
        f"{result['tasks']} tasks of environment {result.get('env') or 'sample'}"
        + (f", adapter {result['adapter']}" if result.get("adapter") else "")
    ]
    lines.append(f"{'':24}" + "".join(f"{s:>10}" for s in sides))
    for metric in METRICS:
        lines.append(
            f"{metric:24}" + "".join(f"{_fmt(result[s][metric], metric != 'mean_steps'):>10}" for s in sides)
        )
    lines.append(f"{'wall_s':24}" + "".join(f"{result[s]['wall_s']:>10.1f}" for s in sides))
    if len(sides) == 2:
        base = {e["task_id"]: e["success"] for e in result["base"]["transcripts"]}
        tuned = {e["task_id"]: e["success"] for e in result["tuned"]["transcripts"]}
        fixed = [t for t in tuned if tuned[t] and not base.get(t)]
        broken = [t for t in tuned if base.get(t) and not tuned[t]]
        if fixed:
            lines.append("newly solved: " + ", ".join(fixed))
        if broken:
            lines.append("newly failed: " + ", ".join(broken))
    return "\n".join(lines)
