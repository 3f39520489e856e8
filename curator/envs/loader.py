"""Loading an environment and its tasks: `--env sample|sql|path/to/file.py:Class|package.module:Class`
with `--task-file FILE` (JSONL, or a `datasets.save_to_disk` folder).

A task is one row: `prompt` (text, or a list of chat messages), the keyword arguments of the environment's
`reset`, and optional `id`, `split` (`train` / `eval`), `system` and `success_threshold` (default 1.0). Every
problem is one line naming the file and what is wrong: no `reset`, a tool without type hints or docstring,
tasks line N lacking a field `reset` needs, `reset` raising for a task (its id and the message).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curator.envs.contract import EnvError, check_class, missing_fields, reset_fields, tool_schemas

# Built-in environments: their class and the function giving their own tasks.
BUILTINS = {
    "sample": ("curator.envs.sample:SampleEnv", "curator.envs.sample:task_rows"),
    "sql": ("curator.envs.sql:SqlEnv", "curator.envs.sql:task_rows"),
}
SPLITS = ("train", "eval")
TASK_KEYS = ("prompt", "id", "split", "system", "success_threshold")


@dataclass(frozen=True)
class EnvTask:
    """One task of an environment: the opening messages, the fields `reset` gets, and how to read its reward."""

    id: str
    prompt: tuple[dict, ...]
    fields: dict = field(repr=False)
    split: str | None = None
    system: str | None = None
    success_threshold: float = 1.0
    env: Environment | None = field(default=None, repr=False, compare=False)

    @property
    def instruction(self) -> str:
        """The task's request: the text of its last user message (what the store keeps as the instruction)."""
        users = [m for m in self.prompt if m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""


@dataclass
class Environment:
    """A loaded environment: how to make instances, their tool schemas, and the tasks it runs."""

    name: str
    factory: Callable[[], Any]
    tools: list[dict]
    tasks: list[EnvTask]

    @property
    def specs(self) -> dict[str, dict]:
        return {t["function"]["name"]: t["function"] for t in self.tools}

    def select(self, split: str | None = None, limit: int | None = None) -> list[EnvTask]:
        """The tasks of a split (all for None; a task without a split belongs to every split), the first N."""
        chosen = [t for t in self.tasks if split is None or t.split in (None, split)]
        if not chosen:
            raise EnvError(f"environment {self.name}: no tasks in split {split!r}")
        return chosen if limit is None else chosen[:limit]

    def preflight(self, tasks: list[EnvTask]) -> None:
        """Reset a fresh instance to each task once, so a `reset` that raises is reported before any work starts."""
        for task in tasks:
            self.start(task)

    def start(self, task: EnvTask) -> tuple[Any, list[dict]]:
        """A fresh instance reset to the task, and the conversation the model starts from."""
        instance = self.factory()
        try:
            observation = instance.reset(**reset_fields(instance, task.fields))
        except Exception as exc:  # noqa: BLE001 - the user's environment: one line with the task id
            raise EnvError(
                f"environment {self.name}: reset() raised for task {task.id}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        messages = [dict(m) for m in task.prompt]
        if task.system and messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": task.system})
        if isinstance(observation, str) and observation:
            messages[-1]["content"] = str(messages[-1].get("content") or "") + observation
        return instance, messages


def _resolve(spec: str) -> tuple[Any, str]:
    """The object a `file.py:Name` or `package.module:Name` spec names, and where it came from."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise EnvError(
            f"--env {spec}: expected sample, sql, path/to/file.py:ClassName or package.module:ClassName"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise EnvError(f"{target}: no such file")
        module_name = f"curator_env_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        if str(path.resolve().parent) not in sys.path:
            sys.path.append(str(path.resolve().parent))  # as when the file runs: it may import its neighbours
        where = str(path)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's file: one line
            raise EnvError(f"{where}: cannot load: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    else:
        where = target
        try:
            module = importlib.import_module(target)
        except Exception as exc:  # noqa: BLE001
            raise EnvError(f"{target}: cannot import: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not hasattr(module, name):
        raise EnvError(f"{where}: no {name} in it")
    return getattr(module, name), where


def _rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) of a JSONL tasks file or a `datasets` folder."""
    if path.is_dir():
        try:
            from datasets import DatasetDict, load_from_disk

            data = load_from_disk(str(path))
        except Exception as exc:  # noqa: BLE001
            raise EnvError(f"{path}: not a datasets folder: {exc}".splitlines()[0]) from None
        parts = data.items() if isinstance(data, DatasetDict) else [(None, data)]
        rows = []
        for split, part in parts:
            for i, row in enumerate(part):
                row = dict(row)
                if split in SPLITS and row.get("split") is None:
                    row["split"] = split
                rows.append((f"{path} row {i + 1}" if split is None else f"{path} {split} row {i + 1}", row))
        return rows
    if not path.is_file():
        raise EnvError(f"{path}: no such tasks file")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise EnvError(f"{path} line {n}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise EnvError(f"{path} line {n}: expected a JSON object")
        rows.append((f"{path} line {n}", row))
    return rows


def _prompt(value: Any, where: str) -> tuple[dict, ...]:
    if isinstance(value, str) and value.strip():
        return ({"role": "user", "content": value},)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
        and value[-1]["role"] == "user"
    ):
        return tuple(dict(m) for m in value)
    raise EnvError(f"{where}: field 'prompt' must be text or chat messages ending with a user message")


def make_task(where: str, row: dict, reset, n: int) -> EnvTask:
    """One task row, checked against the fields `reset` needs."""
    if "prompt" not in row:
        raise EnvError(f"{where}: lacks the field 'prompt'")
    missing = missing_fields(reset, row)
    if missing:
        raise EnvError(f"{where}: lacks the field {missing[0]!r} that reset() needs")
    split = row.get("split")
    if split is not None and split not in SPLITS:
        raise EnvError(f"{where}: field 'split' must be train or eval, got {split!r}")
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise EnvError(f"{where}: field 'system' must be text")
    threshold = row.get("success_threshold", 1.0)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise EnvError(f"{where}: field 'success_threshold' must be a number")
    task_id = row.get("id")
    return EnvTask(
        id=str(task_id) if task_id not in (None, "") else f"task-{n}",
        prompt=_prompt(row["prompt"], where),
        fields=row,
        split=split,
        system=system,
        success_threshold=float(threshold),
    )


def load_environment(spec: str, task_file: str | Path | None = None) -> Environment:
    """Load `--env SPEC` (+ `--task-file`) and check it as TRL would, plus every task row against `reset`."""
    builtin = BUILTINS.get(spec)
    factory, where = _resolve(builtin[0] if builtin else spec)
    if not callable(factory):
        raise EnvError(f"{where}: {spec.rpartition(':')[2]} is not a class or factory")
    try:
        probe = factory()
    except Exception as exc:  # noqa: BLE001
        raise EnvError(f"{where}: constructing the environment raised {type(exc).__name__}: {exc}") from None
    check_class(probe, where)
    tools = tool_schemas(probe, where)
    if task_file is not None:
        rows = _rows(Path(task_file))
    elif builtin:
        rows_of, _ = _resolve(builtin[1])
        rows = [(f"{spec} task {i + 1}", row) for i, row in enumerate(rows_of())]
    else:
        raise EnvError(f"--env {spec}: give its tasks with --task-file FILE")
    if not rows:
        raise EnvError(f"{task_file}: no tasks")
    env = Environment(name=spec, factory=factory, tools=tools, tasks=[])
    tasks = [make_task(w, row, probe.reset, n) for n, (w, row) in enumerate(rows, 1)]
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise EnvError(f"{task_file or spec}: task id {task.id!r} appears twice")
        seen.add(task.id)
    env.tasks = [EnvTask(**{**task.__dict__, "env": env}) for task in tasks]
    return env
