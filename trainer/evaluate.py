"""Evaluation harness: run a policy (the base model, or base + adapter) as an agent on the held-out tasks of the
sample world, execute its tool calls against the real tools, and score every task with its checker (SPEC 7, 8).

A *policy* is any callable `(messages, tools) -> str`: it gets the conversation so far (OpenAI form) and the tool
specs, and returns the assistant's raw text. `ModelPolicy` is one backed by a Hugging Face causal LM (+ a PEFT
adapter); tests use scripted policies.

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
- Valid calls are executed in order in the episode's `World` and their results returned as tool messages, so the
  model sees real errors for unknown tools and bad arguments. Invalid calls are not executed: each gets the tool
  result `{"error": "invalid tool call: ..."}` and the episode goes on (the model may repair it). The assistant
  turn is stored in structured form (content = thought, `tool_calls`) when all its calls are valid, so the next
  prompt renders exactly as training data does; a turn with an invalid call is stored as its raw text.
- The episode also ends at `max_steps` assistant turns without a final answer, or when the conversation no longer
  fits the model's context (`ContextFull`): the task fails. Any other exception from a policy is a bug, not model
  behaviour, and propagates.
- Calls to tools that are not offered are not executed: they get `{"error": "unknown tool NAME"}`.

Metrics (`evaluate`), pooled over all calls of all tasks (None where the denominator is 0):

- `task_success`: tasks whose checker passes on the final world state and the final answer / tasks.
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
from curator.world import EVAL_TASKS, SYSTEM_PROMPT, TOOLS, Task, World, get_task
from trainer.errors import TrainerError

DEFAULT_MAX_STEPS = 6
DEFAULT_MAX_NEW_TOKENS = 200
METRICS = ("task_success", "valid_tool_call_rate", "unknown_tool_rate", "schema_valid_rate", "mean_steps")

Progress = Callable[[int, int], None]


class Policy(Protocol):
    def __call__(self, messages: list[dict], tools: list[dict]) -> str: ...


class ContextFull(Exception):
    """The conversation no longer fits the model's context window; the episode ends unsolved."""


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
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            pass
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


def _as_task(task: Task | str) -> Task:
    return get_task(task) if isinstance(task, str) else task


def run_episode(policy: Policy, task: Task | str, max_steps: int = DEFAULT_MAX_STEPS,
                tools: Sequence[dict] = TOOLS, system: str = SYSTEM_PROMPT) -> dict:
    """Run one task to a final answer or the step limit; return its transcript, counts and success."""
    task = _as_task(task)
    specs = _tool_specs(tools)
    world = World()
    messages: list[dict] = [{"role": "system", "content": system}, {"role": "user", "content": task.instruction}]
    counts = {"attempted": 0, "valid": 0, "unknown": 0, "known": 0, "schema_valid": 0}
    steps: list[dict] = []
    final, stopped = None, "step_limit"
    for step in range(max_steps):
        try:
            raw = policy(copy.deepcopy(messages), list(tools))
        except ContextFull as exc:
            stopped = f"context_full: {exc}"
            break
        raw = raw if isinstance(raw, str) else str(raw)
        thought, calls, answer, error = parse_reply(raw)
        record = {"step": step, "raw": raw, "thought": thought, "calls": [], "final": answer, "error": error}
        steps.append(record)
        if calls is None:
            final, stopped = answer, "final"
            messages.append({"role": "assistant", "content": answer})
            break
        results = []
        for call in calls:
            counts["attempted"] += 1
            entry = {"name": call["name"], "arguments": call["arguments"], "valid": call["error"] is None,
                     "error": call["error"], "known": None, "schema_problems": None}
            if call["error"] is not None:
                result = {"error": f"invalid tool call: {call['error']}"}
            else:
                counts["valid"] += 1
                entry["known"] = call["name"] in specs
                if entry["known"]:
                    counts["known"] += 1
                    entry["schema_problems"] = schema_problems(call["arguments"], specs[call["name"]])
                    counts["schema_valid"] += not entry["schema_problems"]
                    result = world.call(call["name"], call["arguments"])
                else:
                    counts["unknown"] += 1
                    result = {"error": f"unknown tool {call['name']}"}
            entry["result"] = result
            record["calls"].append(entry)
            results.append((call, result))
        if error is None:
            messages.append({"role": "assistant", "content": thought, "tool_calls": [
                {"id": f"call_{step}_{i}", "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}} for i, c in enumerate(calls)]})
        else:
            messages.append({"role": "assistant", "content": raw.strip()})
        for i, (call, result) in enumerate(results):
            message = {"role": "tool", "tool_call_id": f"call_{step}_{i}",
                       "content": json.dumps(result, ensure_ascii=False)}
            if call["error"] is None:
                message["name"] = call["name"]
            messages.append(message)
    success = stopped == "final" and bool(task.check(world, final))
    return {"task_id": task.task_id, "instruction": task.instruction, "success": success, "stopped": stopped,
            "final_answer": final, "steps_taken": len(steps), "counts": counts,
            "mutations": [list(m) for m in world.mutations], "steps": steps}


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def metrics_of(episodes: Sequence[dict]) -> dict:
    """The pooled metrics of finished episodes (see the module docstring)."""
    totals = {k: sum(e["counts"][k] for e in episodes) for k in
              ("attempted", "valid", "unknown", "known", "schema_valid")}
    n = len(episodes)
    return {
        "task_success": _rate(sum(e["success"] for e in episodes), n),
        "valid_tool_call_rate": _rate(totals["valid"], totals["attempted"]),
        "unknown_tool_rate": _rate(totals["unknown"], totals["valid"]),
        "schema_valid_rate": _rate(totals["schema_valid"], totals["known"]),
        "mean_steps": round(sum(e["steps_taken"] for e in episodes) / n, 3) if n else None,
        "counts": {"tasks": n, "solved": sum(e["success"] for e in episodes), **totals,
                   "step_limit": sum(e["stopped"] == "step_limit" for e in episodes)},
    }


def select_tasks(tasks: Iterable[Task | str] | int | None = None) -> list[Task]:
    """Tasks to run: all held-out tasks (None), the first N (an int), or the given tasks or task ids."""
    if tasks is None:
        return list(EVAL_TASKS)
    if isinstance(tasks, int):
        if tasks < 1:
            raise TrainerError(f"--tasks must be at least 1, got {tasks}")
        return list(EVAL_TASKS[:tasks])
    try:
        return [_as_task(t) for t in tasks]
    except KeyError as exc:
        raise TrainerError(str(exc.args[0]))


def evaluate(policy: Policy, tasks: Iterable[Task | str] | int | None = None, max_steps: int = DEFAULT_MAX_STEPS,
             progress: Progress | None = None, *, desc: str = "eval", show_progress: bool = True) -> dict:
    """Run `policy` on the tasks; return the metrics, raw counts and one transcript per task.

    `progress(done, total)` is called after each task (and once with 0 before the first); a tqdm bar goes to
    stderr unless `show_progress` is False.
    """
    from tqdm.auto import tqdm

    chosen = select_tasks(tasks)
    if max_steps < 1:
        raise TrainerError(f"--max-steps must be at least 1, got {max_steps}")
    started = time.perf_counter()
    episodes = []
    if progress:
        progress(0, len(chosen))
    with tqdm(total=len(chosen), desc=desc, disable=not show_progress, file=sys.stderr, leave=False) as bar:
        for task in chosen:
            episode = run_episode(policy, task, max_steps)
            episodes.append(episode)
            bar.update(1)
            bar.set_postfix(solved=sum(e["success"] for e in episodes))
            if progress:
                progress(len(episodes), len(chosen))
    return {**metrics_of(episodes), "max_steps": max_steps, "wall_s": round(time.perf_counter() - started, 2),
            "transcripts": episodes}


def compare(base_policy: Policy, tuned_policy: Policy | None, tasks: Iterable[Task | str] | int | None = None,
            max_steps: int = DEFAULT_MAX_STEPS, progress: Progress | None = None, *,
            show_progress: bool = True) -> dict:
    """Base vs tuned on the same tasks: {"tasks", "task_ids", "base", "tuned"} (`tuned` None without a tuned policy).

    The sides run one after the other; a policy with a `close()` method is closed after its side (ModelPolicy
    frees its model), so two large models are never held at once. `progress(done, total)` counts over both sides.
    """
    chosen = select_tasks(tasks)
    sides = [("base", base_policy)] + ([("tuned", tuned_policy)] if tuned_policy is not None else [])
    total = len(chosen) * len(sides)
    result: dict = {"tasks": len(chosen), "task_ids": [t.task_id for t in chosen], "tuned": None}
    for k, (side, policy) in enumerate(sides):
        offset = k * len(chosen)
        side_progress = (lambda done, _n, o=offset: progress(o + done, total)) if progress else None
        try:
            result[side] = evaluate(policy, chosen, max_steps, side_progress, desc=side, show_progress=show_progress)
        finally:
            if callable(getattr(policy, "close", None)):
                policy.close()
    return result


# ---------------------------------------------------------------------------------------------------------------
# A model as a policy.


def adapter_base(adapter: str | Path) -> str:
    """The base model an adapter folder was trained on (from its adapter_config.json)."""
    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise TrainerError(f"{adapter} is not an adapter folder (no adapter_config.json)")
    try:
        return json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainerError(f"{config}: unreadable ({type(exc).__name__}: {exc})".splitlines()[0])


class ModelPolicy:
    """Greedy generation with a causal LM (+ a PEFT adapter), rendered with the chat template training used.

    Give either folders (`base`: a name or path for `trainer.base.resolve_base`, None for the embedded default;
    `adapter`: a PEFT adapter folder) or loaded objects (`model`, `tokenizer`, e.g. the model being trained).
    The tokenizer (and thus the template) comes from `tokenizer_dir`, else the adapter folder (saved with the
    template training used), else the base with `trainer.template.use_template` (what training would install).
    The model loads on first use; `close()` frees it. Generation stops at the end-of-turn token or after
    `max_new_tokens`; raises ContextFull when the prompt no longer fits the model's context.
    """

    def __init__(self, base: str | Path | None = None, adapter: str | Path | None = None, *,
                 tokenizer_dir: str | Path | None = None, model=None, tokenizer=None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, device: str | None = None, merge: bool = True):
        self.base, self.adapter = base, adapter
        self.tokenizer_dir = tokenizer_dir or adapter
        self.model, self.tokenizer = model, tokenizer
        self._owns_model = model is None  # a model handed in is the caller's: close() keeps it
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.merge = merge
        self.generated_tokens = 0
        self.generate_s = 0.0
        if adapter is not None:
            adapter_base(adapter)  # fail early on a folder that is not an adapter

    def load(self) -> None:
        import torch

        from trainer.base import load_model, load_tokenizer, resolve_base
        from trainer.template import use_template

        if self.tokenizer is None or self.model is None:
            base = self.base if self.base is not None or self.adapter is None else adapter_base(self.adapter)
            base_path = resolve_base(None if base is None else str(base))
            if self.tokenizer is None:
                if self.tokenizer_dir is not None:
                    self.tokenizer = load_tokenizer(Path(self.tokenizer_dir))
                else:
                    self.tokenizer = load_tokenizer(base_path)
                    use_template(self.tokenizer)
            if self.model is None:
                model = load_model(base_path)
                if self.adapter is not None:
                    from peft import PeftModel

                    try:
                        model = PeftModel.from_pretrained(model, str(self.adapter))
                    except Exception as exc:  # noqa: BLE001 - any load failure is one line for the user
                        raise TrainerError(f"adapter {self.adapter} does not fit base {base_path}: "
                                           f"{type(exc).__name__}: {exc}".splitlines()[0])
                    if self.merge:
                        model = model.merge_and_unload()
                device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
                self.model = model.to(device)
        if not self.tokenizer.chat_template:
            raise TrainerError("the tokenizer has no chat template")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        from trainer.template import end_of_turn

        self.end_text = end_of_turn(self.tokenizer)
        stop = {self.tokenizer.convert_tokens_to_ids(self.end_text), self.tokenizer.eos_token_id}
        self.stop_ids = sorted(i for i in stop if isinstance(i, int) and i >= 0)
        self.context = getattr(self.model.config, "max_position_embeddings", None)

    def __call__(self, messages: list[dict], tools: list[dict]) -> str:
        import torch
        from transformers import GenerationConfig

        from trainer.template import render

        if self.model is None or self.tokenizer is None or not hasattr(self, "stop_ids"):
            self.load()
        prompt = render(self.tokenizer, messages, tools, generation_prompt=True)
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if self.context and ids.shape[1] + self.max_new_tokens > self.context:
            raise ContextFull(f"prompt of {ids.shape[1]} tokens + {self.max_new_tokens} new > {self.context}")
        device = next(self.model.parameters()).device
        config = GenerationConfig(do_sample=False, max_new_tokens=self.max_new_tokens, eos_token_id=self.stop_ids,
                                  pad_token_id=self.tokenizer.pad_token_id)
        started, was_training = time.perf_counter(), self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model.generate(input_ids=ids.to(device), attention_mask=torch.ones_like(ids).to(device),
                                          generation_config=config)
        finally:
            if was_training:  # a model handed in by a training loop goes back to training mode
                self.model.train()
        new = out[0, ids.shape[1]:].tolist()
        self.generate_s += time.perf_counter() - started
        self.generated_tokens += len(new)
        while new and new[-1] in self.stop_ids:
            new.pop()
        text = self.tokenizer.decode(new, skip_special_tokens=False)
        for end in (self.end_text, self.tokenizer.eos_token):
            if end and end in text:
                text = text.split(end)[0]
        return text

    def close(self) -> None:
        """Free the model it loaded (and GPU memory); the next call loads it again."""
        if self._owns_model:
            self.model = None
        if hasattr(self, "stop_ids"):
            del self.stop_ids
        with contextlib.suppress(Exception):
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------------------
# Command line glue (`curator eval`, `python -m trainer eval`).


def add_eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", metavar="DIR", help="adapter folder to evaluate against its base (e.g. RUN/dpo/adapter); "
                                          "without it only the base is evaluated")
    parser.add_argument("--base", metavar="MODEL", help="Hugging Face id or local folder; default: the adapter's base, else the "
                                       "embedded SmolLM2-135M-Instruct")
    parser.add_argument("--tasks", type=int, metavar="N", help="the first N held-out tasks (default: all)")
    parser.add_argument("--max-steps", type=int, metavar="N", default=DEFAULT_MAX_STEPS,
                        help=f"assistant turns per task (default {DEFAULT_MAX_STEPS})")
    parser.add_argument("--max-new-tokens", type=int, metavar="N", default=DEFAULT_MAX_NEW_TOKENS,
                        help=f"tokens per assistant turn (default {DEFAULT_MAX_NEW_TOKENS})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def cmd_eval(args: argparse.Namespace) -> dict:
    """Evaluate the base (and base + adapter with `--adapter`) on the held-out tasks; see `compare`.

    Both sides render prompts with the same template: the adapter's when one is given (the one training used).
    """
    tasks = select_tasks(getattr(args, "tasks", None))
    adapter = getattr(args, "adapter", None)
    base = getattr(args, "base", None)
    max_new = getattr(args, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if max_new is None or max_new < 1:
        raise TrainerError(f"--max-new-tokens must be at least 1, got {max_new}")
    if adapter is not None and not Path(adapter).is_dir():
        raise TrainerError(f"adapter folder {adapter} does not exist")
    if adapter is not None and base is None:
        base = adapter_base(adapter)
    from trainer.base import resolve_base

    resolve_base(None if base is None else str(base))  # a bad --base fails here, before any progress bar
    base_policy = ModelPolicy(base, tokenizer_dir=adapter, max_new_tokens=max_new)
    tuned_policy = ModelPolicy(base, adapter, max_new_tokens=max_new) if adapter is not None else None
    result = compare(base_policy, tuned_policy, tasks, getattr(args, "max_steps", None) or DEFAULT_MAX_STEPS)
    result["base_model"] = None if base is None else str(base)
    result["adapter"] = None if adapter is None else str(adapter)
    for side, policy in (("base", base_policy), ("tuned", tuned_policy)):
        if policy is not None and result.get(side):
            result[side]["tokens_per_s"] = (round(policy.generated_tokens / policy.generate_s, 1)
                                            if policy.generate_s else None)
    return result


def _fmt(value, pct: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if pct else f"{value:.2f}"


def summary(result: dict) -> str:
    """The human summary of a `compare` / `cmd_eval` result: a metrics table and the tasks that changed."""
    sides = [s for s in ("base", "tuned") if result.get(s)]
    lines = [f"{result['tasks']} held-out tasks"
             + (f", adapter {result['adapter']}" if result.get("adapter") else "")]
    lines.append(f"{'':24}" + "".join(f"{s:>10}" for s in sides))
    for metric in METRICS:
        lines.append(f"{metric:24}" + "".join(f"{_fmt(result[s][metric], metric != 'mean_steps'):>10}"
                                               for s in sides))
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
