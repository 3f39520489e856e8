"""The one normalized trajectory model every source format is read into (SPEC 3).

A trajectory is a task (what the user asked, with which tools) plus an ordered list of turns.
Assistant turns carry a thought, zero or more tool calls, and/or a reply (the final answer when it
is the last assistant turn without tool calls); tool turns carry the result returned to one call;
user turns are later user messages of a multi-turn conversation (the first one is the task's
instruction). Hashes are over content only, never over provenance, so the same trajectory found in
two files is stored once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

ROLES = ("user", "assistant", "tool")


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys) used for hashing and storage."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def short_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()[:32]


@dataclass(frozen=True)
class ToolCall:
    """One call: a tool name and its arguments.

    `arguments` is the parsed JSON object when the source gave valid JSON; when the teacher wrote
    something that is not a JSON object it is kept as the raw string, so the review (and the
    schema check) can see and fix it instead of the importer silently dropping it.
    """

    name: str
    arguments: Any = field(default_factory=dict)
    id: str | None = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "arguments": self.arguments}
        if self.id is not None:
            d["id"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ToolCall:
        return cls(name=d["name"], arguments=d.get("arguments", {}), id=d.get("id"))


@dataclass(frozen=True)
class Turn:
    role: str
    content: str = ""
    thought: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # a tool result's tool; an assistant step's agent (multi-agent runs)
    raw: str | None = None
    # What the source said about this step that the model never says or sees (an episode-end
    # marker); shown in review, never rendered into training messages.
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown turn role {self.role!r}")

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"role": self.role}
        if self.content:
            d["content"] = self.content
        if self.thought:
            d["thought"] = self.thought
        if self.tool_calls:
            d["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        for key in ("tool_call_id", "name", "raw"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Turn:
        return cls(
            role=d["role"],
            content=d.get("content") or "",
            thought=d.get("thought") or "",
            tool_calls=tuple(ToolCall.from_dict(c) for c in d.get("tool_calls") or ()),
            tool_call_id=d.get("tool_call_id"),
            name=d.get("name"),
            raw=d.get("raw"),
            meta=d.get("meta") or {},
        )


@dataclass(frozen=True)
class Task:
    instruction: str
    system: str | None = None
    context: str | None = None
    tools: tuple[dict, ...] = ()
    source_task_id: str | None = None

    @cached_property
    def tools_json(self) -> bytes:
        """The tools as stored (canonical JSON), serialised once: they are part of both hashes,
        and serialising them again for each use was an import's slowest step."""
        return canonical_json(list(self.tools))

    @cached_property
    def task_hash(self) -> str:
        return short_hash(
            {
                "instruction": self.instruction,
                "system": self.system,
                "context": self.context,
                "tools": orjson.Fragment(self.tools_json),
            }
        )

    @cached_property
    def task_key(self) -> str:
        """What groups trajectories of one task.

        The source's own task name where it has one (scoped by system prompt and tools, so task 0
        of two different benchmarks stays apart); otherwise the content hash. Runs of the same
        named task can differ in their first user message (a simulated user), so the name wins.
        """
        if self.source_task_id is not None:
            return "id:" + short_hash(
                {"id": self.source_task_id, "system": self.system, "tools": orjson.Fragment(self.tools_json)}
            )
        return "h:" + self.task_hash


@dataclass(frozen=True)
class Source:
    format: str
    file: str
    record: str  # where in the file: "line 12", "record 3", "key 'webthink_simple'"


@dataclass(frozen=True)
class Trajectory:
    task: Task
    turns: tuple[Turn, ...]
    source: Source
    teacher: str | None = None
    source_label: str | None = None  # "success" | "failure"
    source_reward: float | None = None
    meta: dict = field(default_factory=dict)  # e.g. planted-failure ground truth

    @cached_property
    def turn_dicts(self) -> list[dict]:
        """The turns as stored (`Turn.to_dict`), made once."""
        return [t.to_dict() for t in self.turns]

    @property
    def traj_hash(self) -> str:
        """Over the task and the turns without their display-only raw text."""
        return short_hash(
            {
                "task": self.task.task_hash,
                "turns": [{k: v for k, v in d.items() if k != "raw"} for d in self.turn_dicts],
            }
        )


def label_from_reward(reward: float | None) -> str | None:
    """The one rule for turning a numeric source reward into a success/failure label."""
    if reward is None:
        return None
    return "success" if reward > 0 else "failure"


def assistant_text(thought: str, content: str) -> str:
    """The text an assistant turn says: its thought, then its reply. Thoughts are never dropped
    from training data (the seed article: a model trained without them acts erratically)."""
    return f"{thought}\n\n{content}" if thought and content else thought or content
