"""The environment contract: TRL's `GRPOTrainer(environment_factory=...)`, read the way TRL reads it.

An environment is a class (or a factory returning an instance) with:

- tools: its public methods (every function defined on the class whose name does not start with `_`, other
  than `reset` and `get_reward`), each with type hints and a Google-style docstring, from which
  `transformers.utils.get_json_schema` derives the JSON schema the model sees;
- `reset(**task_fields)`: starts a task on a fresh state; returns None or text appended to the user message;
- `get_reward()`: scores the episode; success is a reward of at least 1.0 unless the task says otherwise.

The final answer (the assistant's last message, the one without tool calls) reaches the scorer as the optional
keyword `get_reward(final_answer=...)`: this project passes it where the signature takes it; TRL calls
`get_reward()` with no argument, so it stays at its default there (an environment that needs the answer to
score gets it under TRL through `curator.envs.trl_reward`, a TRL reward function that passes it).

Calls are executed here the way an agent should see them: an unknown tool, arguments that are not a JSON object
or do not fit the tool's schema, and an exception raised by the tool all come back as `{"error": ...}` results,
never as a crash of the episode.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from curator.checks import schema_problems
from curator.errors import CuratorError

CONTROL = ("reset", "get_reward")


class EnvError(CuratorError):
    """A bad environment or tasks file, or an environment that failed; one line naming what and where."""


def tool_names(cls: type) -> list[str]:
    """The tools of an environment class, in TRL's rule (functions on the class, public, not reset/get_reward)."""
    return [
        name
        for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
        if name not in CONTROL and not name.startswith("_")
    ]


def tool_schemas(instance: Any, where: str) -> list[dict]:
    """The OpenAI function specs of an instance's tools, as transformers derives them (TRL renders the same)."""
    from transformers.utils import get_json_schema

    specs = []
    for name in tool_names(type(instance)):
        try:
            specs.append(get_json_schema(getattr(instance, name)))
        except Exception as exc:  # noqa: BLE001 - transformers' parsing errors are the user's to fix
            raise EnvError(f"{where}: tool {name}: {str(exc).splitlines()[0]}") from None
    return specs


def check_class(instance: Any, where: str) -> None:
    """What TRL requires before it uses an environment: a callable `reset` (and a callable `get_reward`,
    which TRL treats as optional but this project scores with)."""
    for method in CONTROL:
        if not callable(getattr(type(instance), method, None)):
            raise EnvError(f"{where}: the environment class has no {method}() method")


def reset_fields(instance: Any, fields: dict) -> dict:
    """The task fields `reset` is called with: all of them where it takes **kwargs (as TRL passes the whole
    dataset row), else only those it names."""
    params = inspect.signature(instance.reset).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(fields)
    return {k: v for k, v in fields.items() if k in params}


def missing_fields(reset, fields: dict) -> list[str]:
    """Parameters of `reset` without a default that the task fields do not give."""
    return [
        name
        for name, p in inspect.signature(reset).parameters.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in fields
    ]


def call_tool(instance: Any, specs: dict[str, dict], name: str, arguments: Any) -> Any:
    """Execute one call; bad calls and a tool's exception become `{"error": ...}` results."""
    if name not in specs:
        return {"error": f"unknown tool {name}"}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return {"error": "arguments are not valid JSON"}
    problems = schema_problems(arguments, specs[name].get("parameters"))
    if problems:
        return {"error": "; ".join(problems)}
    try:
        return getattr(instance, name)(**arguments)
    except Exception as exc:  # noqa: BLE001 - what TRL does too: the model sees the tool's error
        return {"error": f"{type(exc).__name__}: {exc}"}


def result_text(result: Any) -> str:
    """A tool result as the text of its tool message (a string as is, anything else as JSON)."""
    if isinstance(result, str):
        return result
    return json.dumps(result, ensure_ascii=False, default=str)


def reward_of(instance: Any, final_answer: str | None) -> float:
    """The episode's reward, with the final answer where `get_reward` takes one."""
    get_reward = instance.get_reward
    params = inspect.signature(get_reward).parameters
    takes = "final_answer" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    reward = get_reward(final_answer=final_answer) if takes else get_reward()
    if isinstance(reward, bool) or not isinstance(reward, (int, float)):
        raise TypeError(f"get_reward() returned {type(reward).__name__}, not a number")
    return float(reward)


def trl_reward(environments: list, completions: list, **_) -> list[float]:
    """A TRL reward function that scores each rollout's environment with its final answer (the last assistant
    message of the completion): `GRPOTrainer(..., reward_funcs=[trl_reward], environment_factory=Env)`."""
    rewards = []
    for env, completion in zip(environments, completions, strict=True):
        final = None
        if isinstance(completion, list):
            last = next((m for m in reversed(completion) if m.get("role") == "assistant"), None)
            if last is not None and not last.get("tool_calls"):
                final = last.get("content")
        else:
            final = completion
        rewards.append(reward_of(env, final))
    return rewards
