"""Trace exports carrying OpenTelemetry GenAI attributes: Langfuse's trace export `{trace,
observations}` and OTLP JSON `{resourceSpans: [{scopeSpans: [{spans}]}]}`.

A model call (a Langfuse GENERATION, a span with `gen_ai.operation.name` `chat`) carries its input
and output messages: Langfuse `input`/`output`, or the `gen_ai.input.messages` /
`gen_ai.output.messages` attributes. Messages follow the GenAI semantic conventions (`{role,
parts: [{type: text, content} | {type: tool_call, id, name, arguments} | {type:
tool_call_response, id, response} | {type: reasoning, content}]}`) or OpenAI chat; both are read
into OpenAI chat and then by the one chat reader, so calls and results pair by id. The run's
conversation is the longest of: an agent span's (or the trace's) input + output, and the model
calls' messages stitched in time order (a call's input that repeats the conversation so far adds
only what is new). `gen_ai.system_instructions` is the system prompt where no message is;
`gen_ai.tool.definitions` the tools; `gen_ai.request.model` the teacher; the trace's scores its
outcome (`correctness`, `success`, `reward`, ...), all kept in meta. One trajectory per trace.
OTLP spans carrying OpenInference attributes (Phoenix exporting over OTLP) are read with the
OpenInference message rules below (`indexed_messages`).

The stitching is shared with the OpenInference reader (`openinference.py`).
"""

from __future__ import annotations

import orjson

from curator.importers.base import (
    Context,
    RecordError,
    RecordInfo,
    kind,
    normalize_tools,
    number,
)
from curator.importers.openai_chat import chat_trajectory, read_chat
from curator.model import Trajectory, label_from_reward

NAME = "otel"

OUTCOME_SCORES = ("correctness", "correct", "success", "reward", "accuracy", "is_correct", "pass", "resolved")


def sniff(value) -> bool:
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("resourceSpans"), list):
        return True
    return isinstance(value.get("observations"), list) and isinstance(value.get("trace"), dict)


def loads(value):
    """Langfuse and OTLP write structures as JSON text; read them where they are."""
    if isinstance(value, str) and value[:1] in ("[", "{", '"'):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def otlp_value(value: dict):
    """An OTLP `AnyValue` as a plain value."""
    for key in ("stringValue", "boolValue", "intValue", "doubleValue"):
        if key in value:
            return value[key]
    if "arrayValue" in value:
        return [otlp_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvListValue" in value:
        return {kv["key"]: otlp_value(kv.get("value", {})) for kv in value["kvListValue"].get("values", [])}
    return None


# --- messages ----------------------------------------------------------------------------------


def openai_messages(value, role: str = "assistant") -> list[dict]:
    """Messages in any of the shapes traces carry, as OpenAI chat messages."""
    value = loads(value)
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict) and "messages" in value:
        value = value["messages"]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return [{"role": role, "content": orjson.dumps(value).decode()}]
    out = []
    for message in value:
        out += (
            convert(message, role) if isinstance(message, dict) else [{"role": role, "content": str(message)}]
        )
    return out


def convert(message: dict, role: str) -> list[dict]:
    """One GenAI-convention message (`parts`) as OpenAI messages; OpenAI messages pass as they are."""
    if "parts" not in message:
        return [message] if "role" in message else [{"role": role, "content": orjson.dumps(message).decode()}]
    role = message.get("role", role)
    texts, reasoning, calls, results = [], [], [], []
    for part in message.get("parts") or ():
        kind_ = part.get("type") if isinstance(part, dict) else None
        if kind_ == "text":
            texts.append(str(part.get("content", "")))
        elif kind_ == "reasoning":
            reasoning.append(str(part.get("content", "")))
        elif kind_ == "tool_call":
            calls.append(
                {
                    "id": part.get("id"),
                    "type": "function",
                    "function": {"name": part.get("name"), "arguments": part.get("arguments")},
                }
            )
        elif kind_ == "tool_call_response":
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": part.get("id"),
                    "content": tool_response(part.get("response")),
                }
            )
        elif kind_ is not None:
            texts.append(f"[{kind_}]")
    out = list(results)
    if texts or reasoning or calls or not results:
        main = {"role": role, "content": "\n".join(texts)}
        if reasoning:
            main["reasoning_content"] = "\n".join(reasoning)
        if calls:
            main["tool_calls"] = calls
        out.insert(0, main) if not results else out.append(main)
    return out


def tool_response(value) -> str:
    """A tool response as the model saw it: Agent Framework wraps it in `{type: function_result,
    result}`; the result is what the tool returned."""
    parsed = loads(value)
    if isinstance(parsed, dict) and parsed.get("type") == "function_result" and "result" in parsed:
        parsed = parsed["result"]
    return parsed if isinstance(parsed, str) else orjson.dumps(parsed).decode()


def indexed_messages(attrs: dict, prefix: str) -> list[dict]:
    """OpenInference's flat `llm.input_messages.*` (or output) attributes as OpenAI chat messages."""
    by_index: dict[int, dict] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if index.isdigit():
            by_index.setdefault(int(index), {})[rest.removeprefix("message.")] = value
    return [indexed_message(fields) for _, fields in sorted(by_index.items())]


def indexed_message(fields: dict) -> dict:
    out = {"role": fields.get("role") or "user", "content": fields.get("content")}
    if out["content"] is None:
        texts = [v for k, v in sorted(fields.items()) if k.startswith("contents.") and k.endswith(".text")]
        out["content"] = "\n".join(str(t) for t in texts)
    calls: dict[int, dict] = {}
    for key, value in fields.items():
        if key.startswith("tool_calls."):
            index, _, rest = key[len("tool_calls.") :].partition(".")
            calls.setdefault(int(index), {})[rest.removeprefix("tool_call.")] = value
    if calls:
        out["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {"name": c.get("function.name"), "arguments": c.get("function.arguments")},
            }
            for _, c in sorted(calls.items())
        ]
    for key in ("tool_call_id", "name"):
        if fields.get(key) is not None:
            out[key] = fields[key]
    return out


# --- calls and conversations -------------------------------------------------------------------


def stitch(calls: list[tuple[list[dict], list[dict]]]) -> list[dict]:
    """The conversation of model calls in time order, each (input, output) messages: an input that
    starts with the conversation so far adds its rest; any other input is new messages."""
    conversation: list[dict] = []
    for inputs, outputs in calls:
        if inputs[: len(conversation)] == conversation:
            conversation = conversation + inputs[len(conversation) :]
        else:
            conversation += [m for m in inputs if m not in conversation[-len(inputs) :]]
        conversation += outputs
    return conversation


def conversation(candidates: list[list[dict]], calls: list[tuple[list[dict], list[dict]]]) -> list[dict]:
    """The longest account of the run: a whole-run span's, or the model calls stitched."""
    options = [c for c in candidates if c] + [stitch(calls)]
    return max(options, key=len)


class Spans:
    """A trace's spans (Langfuse observations or OTLP spans) as model calls, whole-run candidates,
    and what their attributes say (system, tools, model)."""

    def __init__(self):
        self.calls: list[tuple[str, list[dict], list[dict]]] = []
        self.candidates: list[list[dict]] = []
        self.system: str | None = None
        self.tools: tuple[dict, ...] = ()
        self.model: str | None = None

    def add(self, start: str, kind_: str, attrs: dict, inputs, outputs, model=None) -> None:
        inputs = openai_messages(attrs.get("gen_ai.input.messages", inputs), "user")
        outputs = openai_messages(attrs.get("gen_ai.output.messages", outputs), "assistant")
        operation = attrs.get("gen_ai.operation.name", "")
        if attrs.get("gen_ai.system_instructions") and self.system is None:
            system = openai_messages(attrs["gen_ai.system_instructions"], "system")
            self.system = "\n".join(str(m.get("content") or "") for m in system) or None
        if attrs.get("gen_ai.tool.definitions") and not self.tools:
            self.tools = normalize_tools(loads(attrs["gen_ai.tool.definitions"]), "gen_ai.tool.definitions")
        if kind_ == "GENERATION" or operation in ("chat", "text_completion", "generate_content"):
            self.model = self.model or model or attrs.get("gen_ai.request.model")
            if inputs or outputs:
                self.calls.append((start, inputs, outputs))
        elif inputs and outputs and all("role" in m for m in inputs):
            self.candidates.append(inputs + outputs)

    def messages(self) -> list[dict]:
        ordered = [(i, o) for _, i, o in sorted(self.calls, key=lambda c: c[0])]
        found = conversation(self.candidates, ordered)
        if self.system and not any(m.get("role") == "system" for m in found):
            found = [{"role": "system", "content": self.system}, *found]
        return found


def langfuse(value: dict) -> tuple[Spans, RecordInfo]:
    trace = value["trace"]
    spans = Spans()
    for i, observation in enumerate(value["observations"]):
        if not isinstance(observation, dict):
            raise RecordError(f"observations[{i}]: expected an observation object, got {kind(observation)}")
        metadata = loads(observation.get("metadata")) or {}
        attrs = metadata.get("attributes", {}) if isinstance(metadata, dict) else {}
        spans.add(
            str(observation.get("startTime", "")),
            str(observation.get("type", "")),
            attrs if isinstance(attrs, dict) else {},
            observation.get("input"),
            observation.get("output"),
            observation.get("model"),
        )
    trace_messages = openai_messages(trace.get("input"), "user") + openai_messages(trace.get("output"))
    if trace_messages and all("role" in m for m in trace_messages):
        spans.candidates.append(trace_messages)
    info = RecordInfo(meta={"trace_id": trace.get("id")})
    scores(info, loads(trace.get("scores")))
    return spans, info


def scores(info: RecordInfo, found) -> None:
    """Evaluation scores on the trace: all kept in meta; an outcome score is the source's label."""
    if not isinstance(found, list):
        return
    info.meta["scores"] = {s.get("name"): s.get("value") for s in found if isinstance(s, dict)}
    for name, value in info.meta["scores"].items():
        if str(name).lower() in OUTCOME_SCORES and info.reward is None and value is not None:
            info.reward = number(value, f"scores.{name}")
    info.label = info.label or label_from_reward(info.reward)


def otlp(value: dict) -> tuple[Spans, RecordInfo]:
    spans = Spans()
    trace_ids = set()
    for resource in value["resourceSpans"]:
        for scope in resource.get("scopeSpans", resource.get("instrumentationLibrarySpans", [])):
            for span in scope.get("spans", []):
                attrs = {a["key"]: otlp_value(a.get("value", {})) for a in span.get("attributes", [])}
                trace_ids.add(span.get("traceId"))
                start = str(span.get("startTimeUnixNano", "")).zfill(24)
                if str(attrs.get("openinference.span.kind", "")).upper() == "LLM":  # Phoenix over OTLP
                    inputs = indexed_messages(attrs, "llm.input_messages.")
                    outputs = indexed_messages(attrs, "llm.output_messages.")
                    spans.add(start, "GENERATION", {}, inputs, outputs, attrs.get("llm.model_name"))
                else:
                    spans.add(start, "", attrs, None, None)
    return spans, RecordInfo(meta={"trace_id": sorted(filter(None, trace_ids))})


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a trace export object, got {kind(value)}")
    spans, info = otlp(value) if "resourceSpans" in value else langfuse(value)
    messages = spans.messages()
    if not messages:
        raise RecordError("no model call with input or output messages in this trace")
    info.teacher = spans.model
    chat = read_chat(messages, "messages")
    return [chat_trajectory(chat, ctx, where, "messages", info, spans.tools)]
