"""OpenInference span exports (Arize Phoenix, OpenInference instrumentors): spans as JSON Lines or
a JSON list, one span a record, with `attributes` written flat (`llm.input_messages.0.message.role`)
or nested (`{"llm": {"input_messages": [{"message": {...}}]}}`); Phoenix dataframes prefix them
with `attributes.`.

An LLM span (`openinference.span.kind: LLM`) is one model call: `llm.input_messages.*` and
`llm.output_messages.*` (`message.role`, `message.content` or `message.contents.*`,
`message.tool_calls.*.tool_call.{id, function.name, function.arguments}`, `message.tool_call_id`),
`llm.model_name`, `llm.tools.*.tool.json_schema`. TOOL spans (`tool.name`, `input.value`,
`output.value`) are the executions whose results the next model call reads. Spans group by trace
(`context.trace_id`), and each trace's model calls are stitched into one conversation in time order
(the rule shared with `otel.py`). One trajectory per trace.
"""

from __future__ import annotations

from curator.importers.base import Context, RecordError, RecordInfo, normalize_tools
from curator.importers.files import Record
from curator.importers.openai_chat import chat_trajectory, read_chat
from curator.importers.otel import Spans, indexed_messages, loads
from curator.model import Trajectory

NAME = "openinference"

MARKERS = ("openinference.span.kind", "llm.input_messages", "llm.output_messages", "tool.name", "input.value")


def flat(value, prefix: str = "") -> dict:
    """Nested attributes as dotted keys (`llm.input_messages.0.message.role`)."""
    out = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            out.update(flat(inner, f"{prefix}{key}."))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, inner in enumerate(value):
            out.update(flat(inner, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = value
    return out


def attributes(span: dict) -> dict:
    attrs = flat(span.get("attributes") or {})
    attrs.update({k.removeprefix("attributes."): v for k, v in span.items() if k.startswith("attributes.")})
    return attrs


def sniff(value) -> bool:
    if not isinstance(value, dict) or not (
        "attributes" in value or any(k.startswith("attributes.") for k in value)
    ):
        return False
    attrs = attributes(value)
    return any(key.startswith(MARKERS) for key in attrs)


def trace_id(span: dict) -> str:
    context = span.get("context") if isinstance(span.get("context"), dict) else {}
    return str(context.get("trace_id") or span.get("trace_id") or span.get("context.trace_id") or "")


def groups(records: list[Record]) -> list[tuple[str, list[Record]]]:
    found: dict[str, list[Record]] = {}
    for record in records:
        key = trace_id(record.value)
        found.setdefault(key, []).append(record)
    return [(f"trace {key}" if key else group[0].where, group) for key, group in found.items()]


def parse(group, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    spans = Spans()
    for record in group:
        span = record.value
        attrs = attributes(span)
        if str(attrs.get("openinference.span.kind", span.get("span_kind", ""))).upper() != "LLM":
            continue
        start = str(span.get("start_time") or span.get("startTime") or span.get("start_time_unix_nano") or "")
        spans.add(
            start,
            "GENERATION",
            {},
            indexed_messages(attrs, "llm.input_messages."),
            indexed_messages(attrs, "llm.output_messages."),
            attrs.get("llm.model_name"),
        )
        if not spans.tools:
            schemas = [
                loads(v)
                for k, v in sorted(attrs.items())
                if k.startswith("llm.tools.") and k.endswith("json_schema")
            ]
            spans.tools = normalize_tools(schemas, "llm.tools") if schemas else ()
    found = spans.messages()
    if not found:
        raise RecordError("no LLM span with input or output messages in this trace")
    info = RecordInfo(teacher=spans.model, meta={"trace_id": trace_id(group[0].value)})
    chat = read_chat(found, "llm.input_messages")
    return [chat_trajectory(chat, ctx, where, "llm.input_messages", info, spans.tools)]
