"""Claude Code session logs (`~/.claude/projects/<project>/<session>.jsonl`): one event a line.

Events of `type` `user` and `assistant` carry an Anthropic Messages object under `message`:
`content` is text or blocks (`text`, `thinking` (the step's thought), `tool_use {id, name, input}`,
and, in user events, `tool_result {tool_use_id, content, is_error}`, paired with its call by id).
Claude Code writes one assistant event per content block: events of one message (`message.id`)
are one assistant turn, even where a result was logged between two of its calls. Other events
(`progress`, `system` notices of local commands, `file-history-snapshot`, `queue-operation`,
`summary`) are not messages the model saw: they are counted in the trajectory's meta.

One trajectory per session file. Sub-agent (side-chain, `isSidechain: true`) events are
imported as their own trajectories, one per sub-agent (`agentId`), never mixed into the main one;
their meta says `sidechain` and the parent session.
"""

from __future__ import annotations

from collections import Counter

from curator.importers.base import Context, RecordError, RecordInfo
from curator.importers.files import Record
from curator.importers.openai_chat import chat_trajectory, read_chat
from curator.model import Trajectory

NAME = "claudecode"

EVENT_TYPES = {
    "user",
    "assistant",
    "system",
    "summary",
    "progress",
    "file-history-snapshot",
    "queue-operation",
    "attachment",
}
ID_KEYS = ("sessionId", "uuid", "messageId", "leafUuid")


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in EVENT_TYPES
        and any(k in value for k in ID_KEYS)
        and "payload" not in value
    )


def groups(records: list[Record]) -> list[tuple[str, list[Record]]]:
    """The main conversation of the file, then each sub-agent's, in order of first line. (A
    resumed session logs earlier messages under their first session id: a file is one
    conversation whatever ids its lines carry.)"""
    found: dict[str | None, list[Record]] = {}
    for record in records:
        event = record.value
        side = str(event.get("agentId") or "sidechain") if event.get("isSidechain") else None
        found.setdefault(side, []).append(record)
    out = []
    for side, group in found.items():
        where = f"lines {group[0].where.split()[-1]}-{group[-1].where.split()[-1]}"
        out.append((where if side is None else f"{where} (sub-agent {side})", group))
    return out


def messages(group: list[Record]) -> tuple[list[dict], Counter, str | None]:
    """The group's Anthropic messages in order (an assistant message's events merged), the other
    events counted by type, and the model that answered."""
    out: list[dict] = []
    skipped: Counter = Counter()
    model = None
    for record in group:
        event = record.value
        message = event.get("message")
        if event.get("type") not in ("user", "assistant") or not isinstance(message, dict):
            skipped[str(event.get("type"))] += 1
            continue
        role = message.get("role") or event["type"]
        if role == "assistant":
            model = model or message.get("model")
            if _merge(out, message):
                continue
        out.append({"role": role, "content": message.get("content"), "id": message.get("id")})
    return out, skipped, model


def _merge(out: list[dict], message: dict) -> bool:
    """Add an assistant event's blocks to the earlier assistant message with the same id, where
    only tool results were logged since."""
    if message.get("id") is None:
        return False
    for earlier in reversed(out):
        if earlier["role"] == "assistant":
            if earlier.get("id") != message["id"]:
                return False
            earlier["content"] = _blocks(earlier["content"]) + _blocks(message.get("content"))
            return True
        if not _only_results(earlier["content"]):
            return False
    return False


def _blocks(content) -> list:
    if content is None:
        return []
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


def _only_results(content) -> bool:
    return isinstance(content, list) and all(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def parse(group, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    chat_messages, skipped, model = messages(group)
    if not chat_messages:
        raise RecordError("no user or assistant message in these events")
    events = [r.value for r in group]
    info = RecordInfo(teacher=model)  # a session id names a run, not a task: runs group by content
    info.meta["session_id"] = next((e["sessionId"] for e in events if e.get("sessionId")), None)
    if skipped:
        info.meta["events_not_messages"] = dict(skipped)
    if events[0].get("isSidechain"):
        info.meta["sidechain"] = True
        info.meta["agent_id"] = events[0].get("agentId")
    plain = [{"role": m["role"], "content": m["content"]} for m in chat_messages]
    chat = read_chat(plain, "message")
    return [chat_trajectory(chat, ctx, where, "message", info, ())]
