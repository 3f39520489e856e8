"""The families of 2026 agent logs, each on a small fixture written here in the documented shape
(every message carries a unique marker, found exactly once and in order in the store), then on
the public files in `../shared/realdata/` by path: tool calls with their arguments and results
paired by id, thoughts, labels and the human step label in place."""

from __future__ import annotations

import json

import orjson
import pytest
from roundtrip import assert_round_trip, roles, stored, write

from curator.importers import Bad, parse_file
from curator.review import bulk
from curator.store import Store


def calls(traj: dict) -> list[tuple[str, object, str]]:
    return [(c["name"], c["arguments"], c.get("id")) for t in traj["turns"] for c in t.get("tool_calls", [])]


def results(traj: dict) -> list[tuple[str, str]]:
    return [(t.get("tool_call_id"), t["content"]) for t in traj["turns"] if t["role"] == "tool"]


# ---- Claude Code ----


def cc_event(kind, content, *, msg_id=None, side=False, **extra):
    message = {"role": kind, "content": content}
    if msg_id:
        message |= {"id": msg_id, "model": "claude-test"}
    return {
        "type": kind,
        "sessionId": "s1",
        "uuid": f"u{abs(hash(json.dumps(content))) % 10**6}",
        "isSidechain": side,
        "message": message,
        **extra,
    }


CLAUDE_CODE = [
    {"type": "file-history-snapshot", "messageId": "x", "snapshot": {}},
    cc_event("user", "m01 fix the test"),
    cc_event("assistant", [{"type": "thinking", "thinking": "m02 think", "signature": "s"}], msg_id="A"),
    cc_event("assistant", [{"type": "text", "text": "m03 I will look."}], msg_id="A"),
    cc_event(
        "assistant",
        [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "m04"}}],
        msg_id="A",
    ),
    {"type": "progress", "sessionId": "s1", "uuid": "p", "data": {}},
    cc_event("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "m05 file text"}]),
    cc_event(
        "assistant",
        [{"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "m06"}}],
        msg_id="B",
    ),
    cc_event(
        "user", [{"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "m07"}]}]
    ),
    cc_event(
        "assistant",
        [{"type": "tool_use", "id": "t3", "name": "Grep", "input": {"pattern": "m08"}}],
        msg_id="B",
    ),
    cc_event(
        "user", [{"type": "tool_result", "tool_use_id": "t3", "content": "m09 no match", "is_error": True}]
    ),
    cc_event("assistant", [{"type": "text", "text": "m10 done"}], msg_id="C"),
    cc_event("user", "s01 sub-agent prompt", side=True, agentId="a1"),
    cc_event(
        "assistant",
        [{"type": "tool_use", "id": "t9", "name": "Glob", "input": {"pattern": "s02"}}],
        msg_id="S",
        side=True,
        agentId="a1",
    ),
    cc_event(
        "user", [{"type": "tool_result", "tool_use_id": "t9", "content": "s03"}], side=True, agentId="a1"
    ),
    cc_event("assistant", [{"type": "text", "text": "s04 found"}], msg_id="T", side=True, agentId="a1"),
]


def test_claude_code_session_and_sub_agent(tmp_path, db):
    summary, (main, sub) = stored(db, write(tmp_path, "session.jsonl", CLAUDE_CODE))
    assert summary["format"] == "claudecode" and summary["quarantined"] == 0
    # message B's two calls are one step, as the model sent them; their results follow it
    assert_round_trip(main, ["m01", "m02", "m03", "m04", "m05", "m06", "m08", "m07", "m09", "m10"])
    assert roles(main) == "atatta"
    assert main["turns"][0]["thought"] == "m02 think\n\nm03 I will look."
    assert calls(main) == [
        ("Read", {"file_path": "m04"}, "t1"),
        ("Bash", {"command": "m06"}, "t2"),
        ("Grep", {"pattern": "m08"}, "t3"),
    ]
    assert results(main) == [("t1", "m05 file text"), ("t2", "m07"), ("t3", "m09 no match")]
    assert main["turns"][4]["meta"] == {"is_error": True}
    assert main["meta"]["events_not_messages"] == {"file-history-snapshot": 1, "progress": 1}
    assert_round_trip(sub, ["s01", "s02", "s03", "s04"])  # the sub-agent is its own trajectory
    assert sub["meta"]["sidechain"] is True and "(sub-agent a1)" in sub["record"]


# ---- Codex CLI ----


def item(payload):
    return {"timestamp": "2026-01-01T00:00:00Z", "type": "response_item", "payload": payload}


CODEX = [
    {"type": "session_meta", "payload": {"id": "r1", "base_instructions": {"text": "m01 you are codex"}}},
    item(
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "m02 sandbox"}]}
    ),
    item({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "m03 make a file"}]}),
    {"type": "event_msg", "payload": {"type": "user_message", "message": "m03 make a file"}},
    {"type": "turn_context", "payload": {"model": "gpt-test"}},
    item(
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "m04 plan"}],
            "encrypted_content": "x",
        }
    ),
    item({"type": "function_call", "name": "exec_command", "arguments": '{"cmd": "m05"}', "call_id": "c1"}),
    item({"type": "function_call_output", "call_id": "c1", "output": "m06 ok"}),
    item({"type": "custom_tool_call", "name": "apply_patch", "input": "*** m07 patch", "call_id": "c2"}),
    item({"type": "custom_tool_call_output", "call_id": "c2", "output": "m08 applied"}),
    item({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "m09 done"}]}),
]


def test_codex_rollout(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "rollout.jsonl", CODEX))
    assert summary["format"] == "codex"
    assert_round_trip(traj, [f"m0{i}" for i in range(1, 10)])
    assert traj["system"] == "m01 you are codex\n\nm02 sandbox" and traj["instruction"] == "m03 make a file"
    assert roles(traj) == "atata" and traj["turns"][0]["thought"] == "m04 plan"
    assert calls(traj) == [("exec_command", {"cmd": "m05"}, "c1"), ("apply_patch", "*** m07 patch", "c2")]
    assert results(traj) == [("c1", "m06 ok"), ("c2", "m08 applied")]


def test_codex_rollout_without_wrappers(tmp_path, db):
    lines = [{"id": "r2", "timestamp": "t", "instructions": "m01"}, {"record_type": "state"}] + [
        line["payload"] for line in CODEX if line["type"] == "response_item"
    ]
    summary, (traj,) = stored(db, write(tmp_path, "old.jsonl", lines))
    assert summary["format"] == "codex" and traj["system"] == "m01\n\nm02 sandbox"
    assert traj["meta"]["session_id"] == "r2"
    assert results(traj) == [("c1", "m06 ok"), ("c2", "m08 applied")]


# ---- Cline ----

CLINE = [
    {"role": "user", "content": [{"type": "text", "text": "<task>\nm01 add a test\n</task>"}]},
    {
        "role": "assistant",
        "content": [
            {
                "type": "text",
                "text": "<thinking>m02 read it first</thinking>\n<read_file>\n<path>m03.py</path>\n</read_file>",
            }
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "[read_file for 'that file'] Result:"},
            {"type": "text", "text": "m04 source"},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {
                "type": "text",
                "text": "m05 done.\n<attempt_completion>\n<result>m06 added</result>\n</attempt_completion>",
            }
        ],
    },
]


def test_cline_history_with_xml_tools(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "api_conversation_history.json", CLINE))
    assert summary["format"] == "cline"
    assert_round_trip(traj, ["m01", "m02", "m03", "m04", "m05", "m06"])
    assert roles(traj) == "ata" and traj["turns"][0]["thought"] == "m02 read it first"
    assert calls(traj) == [("read_file", {"path": "m03.py"}, "cline_1")]
    assert results(traj)[0][0] == "cline_1" and "m04 source" in results(traj)[0][1]
    assert traj["turns"][-1]["content"] == "m06 added"


def test_cline_ui_messages_are_reported_not_imported(tmp_path, db):
    ui = [
        {"ts": 1, "type": "say", "say": "task", "text": "hi"},
        {"ts": 2, "type": "ask", "ask": "tool", "text": "{}"},
    ]
    summary, trajs = stored(db, write(tmp_path, "ui_messages.json", ui))
    assert not trajs and "api_conversation_history.json" in summary["errors"][0]["reason"]


# ---- ATIF ----

ATIF = {
    "schema_version": "ATIF-v1.5",
    "session_id": "run-1",
    "agent": {"name": "harbor-agent", "version": "1.0", "model_name": "gemini-test"},
    "steps": [
        {"step_id": 1, "source": "system", "message": "m01 system"},
        {"step_id": 2, "source": "user", "message": "m02 price of GOOGL?"},
        {
            "step_id": 3,
            "source": "agent",
            "message": "m03 searching",
            "reasoning_content": "m04 two calls",
            "tool_calls": [
                {"tool_call_id": "p1", "function_name": "search", "arguments": {"q": "m05"}},
                {"tool_call_id": "v1", "function_name": "search", "arguments": {"q": "m06"}},
            ],
            "observation": {
                "results": [
                    {"source_call_id": "v1", "content": "m08 volume"},
                    {"source_call_id": "p1", "content": "m07 price"},
                ]
            },
        },
        {"step_id": 4, "source": "user", "message": [{"type": "text", "text": "m09 and MSFT?"}]},
        {"step_id": 5, "source": "agent", "message": "m10 GOOGL $185"},
    ],
    "extra": {"reward": 1.0},
}


def test_atif_trajectory(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "trajectory.json", ATIF))
    assert summary["format"] == "atif" and traj["system"] == "m01 system"
    # results are stored in the source's order, each paired with its call by id
    assert_round_trip(traj, ["m01", "m02", "m04", "m03", "m05", "m06", "m08", "m07", "m09", "m10"])
    assert roles(traj) == "attua" and traj["label"] == "success"
    assert results(traj) == [("v1", "m08 volume"), ("p1", "m07 price")]
    assert [t.get("name") for t in traj["turns"] if t["role"] == "tool"] == ["search", "search"]


# ---- OpenTelemetry GenAI: Langfuse export and OTLP JSON ----


def parts(role, *items):
    return {"role": role, "parts": list(items)}


LANGFUSE = {
    "trace": {"id": "tr1", "scores": [{"name": "correctness", "value": 0}]},
    "observations": [
        {
            "id": "g1",
            "type": "GENERATION",
            "startTime": "2025-01-01T00:00:01Z",
            "model": "gpt-test",
            "input": json.dumps([parts("user", {"type": "text", "content": "m01 weather?"})]),
            "output": json.dumps(
                [
                    parts(
                        "assistant",
                        {
                            "type": "tool_call",
                            "id": "c1",
                            "name": "get_weather",
                            "arguments": '{"city": "m02"}',
                        },
                    )
                ]
            ),
            "metadata": {
                "attributes": {
                    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "m00 be brief"}]),
                    "gen_ai.tool.definitions": json.dumps(
                        [{"type": "function", "function": {"name": "get_weather"}}]
                    ),
                }
            },
        },
        {
            "id": "t1",
            "type": "TOOL",
            "startTime": "2025-01-01T00:00:02Z",
            "input": '{"city": "m02"}',
            "output": '"m03"',
        },
        {
            "id": "g2",
            "type": "GENERATION",
            "startTime": "2025-01-01T00:00:03Z",
            "input": json.dumps(
                [parts("tool", {"type": "tool_call_response", "id": "c1", "response": "m03 rainy"})]
            ),
            "output": json.dumps([parts("assistant", {"type": "text", "content": "m04 rainy"})]),
        },
    ],
}


def test_langfuse_trace_export(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "trace.json", LANGFUSE))
    assert summary["format"] == "otel"
    assert_round_trip(traj, ["m00", "m01", "m02", "m03", "m04"])
    assert calls(traj) == [("get_weather", {"city": "m02"}, "c1")] and results(traj) == [("c1", "m03 rainy")]
    assert traj["label"] == "failure" and traj["meta"]["scores"] == {"correctness": 0}


def otlp_span(start, attrs):
    return {
        "traceId": "ab",
        "spanId": start,
        "startTimeUnixNano": start,
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def test_otlp_json_with_gen_ai_messages(tmp_path, db):
    first = [{"role": "user", "parts": [{"type": "text", "content": "m01"}]}]
    call = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": "m02"}}],
        }
    ]
    result = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "m03"}]}]
    answer = [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "m04"}, {"type": "text", "content": "m05"}],
        }
    ]
    spans = [
        otlp_span(
            "2",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps(first + call + result),
                "gen_ai.output.messages": json.dumps(answer),
            },
        ),
        otlp_span(
            "1",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m-test",
                "gen_ai.input.messages": json.dumps(first),
                "gen_ai.output.messages": json.dumps(call),
            },
        ),
    ]
    export = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    summary, (traj,) = stored(db, write(tmp_path, "otlp.json", export))
    assert summary["format"] == "otel"
    assert_round_trip(traj, ["m01", "m02", "m03", "m04", "m05"])  # the cumulative input adds nothing twice
    assert roles(traj) == "ata" and traj["turns"][-1]["thought"] == "m04"


# ---- OpenInference (Phoenix) ----


def oi_span(span_id, start, attrs, kind="LLM"):
    return {
        "name": "ChatCompletion",
        "context": {"trace_id": "T1", "span_id": span_id},
        "start_time": start,
        "attributes": {"openinference.span.kind": kind, **attrs},
    }


OPENINFERENCE = [
    oi_span(
        "a",
        "2025-01-01T00:00:01",
        {
            "llm.model_name": "gpt-test",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "m01",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "m02",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "c1",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "m03"}',
        },
    ),
    oi_span(
        "b",
        "2025-01-01T00:00:02",
        {"tool.name": "lookup", "input.value": "m03", "output.value": "m04"},
        "TOOL",
    ),
    oi_span(
        "c",
        "2025-01-01T00:00:03",
        {
            "llm": {
                "input_messages": [
                    {"message": {"role": "system", "content": "m01"}},
                    {"message": {"role": "user", "content": "m02"}},
                    {
                        "message": {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "tool_call": {
                                        "id": "c1",
                                        "function": {"name": "lookup", "arguments": '{"q": "m03"}'},
                                    }
                                }
                            ],
                        }
                    },
                    {"message": {"role": "tool", "tool_call_id": "c1", "content": "m04"}},
                ],
                "output_messages": [{"message": {"role": "assistant", "content": "m05"}}],
            }
        },
    ),
]


def test_openinference_spans(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "spans.jsonl", OPENINFERENCE))
    assert summary["format"] == "openinference"
    assert_round_trip(traj, ["m01", "m02", "m03", "m04", "m05"])
    assert calls(traj) == [("lookup", {"q": "m03"}, "c1")] and results(traj) == [("c1", "m04")]


# ---- tau2-bench ----

TAU2 = {
    "info": {
        "agent_info": {"llm": "gpt-test"},
        "environment_info": {"policy": "m00 policy", "tool_defs": None},
    },
    "tasks": [],
    "simulations": [
        {
            "id": "s1",
            "task_id": "[mobile]x",
            "trial": 0,
            "termination_reason": "user_stop",
            "reward_info": {"reward": 1.0},
            "messages": [
                {"role": "assistant", "content": "m01 hi", "tool_calls": None},
                {"role": "user", "content": "m02 my data is off"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "name": "get_line", "arguments": {"n": "m03"}, "requestor": "assistant"}
                    ],
                },
                {"role": "tool", "id": "c1", "content": "m04 line", "requestor": "assistant"},
                {"role": "assistant", "content": "m05 toggle it"},
                {
                    "role": "user",
                    "content": None,
                    "tool_calls": [{"id": "u1", "name": "toggle_data", "arguments": {}, "requestor": "user"}],
                },
                {"role": "tool", "id": "u1", "content": "u2 data on", "requestor": "user"},
                {"role": "user", "content": "m06 works now"},
                {"role": "assistant", "content": "m07 great"},
            ],
        },
        {"id": "s2", "task_id": "y", "messages": "broken"},
    ],
}


def test_tau2_simulations(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "simulations.json", TAU2))
    assert summary["format"] == "tau2" and summary["imported"] == 1 and summary["quarantined"] == 1
    assert "simulations[1]" in summary["errors"][0]["where"]
    assert_round_trip(traj, [f"m0{i}" for i in range(8)])
    assert traj["instruction"] == "" and traj["system"] == "m00 policy" and traj["label"] == "success"
    assert roles(traj) == "auataua"
    assert calls(traj) == [("get_line", {"n": "m03"}, "c1")] and results(traj) == [("c1", "m04 line")]
    user_turn = traj["turns"][5]
    assert user_turn["content"] == "m06 works now"
    assert [a.get("content") for a in user_turn["meta"]["user_tool_activity"]] == [None, "u2 data on"]


# ---- multi-agent histories with human step labels (Who&When, Magentic-One) ----

WHO_WHEN = {
    "is_correct": False,
    "question": "m00 how many?",
    "question_ID": "q1",
    "ground_truth": "8",
    "history": [
        {"role": "assistant", "name": "Excel_Expert", "content": "m01 plan"},
        {"role": "user", "name": "Computer_terminal", "content": "exitcode: 0 (execution succeeded)\nm02"},
        {"role": "user", "name": "Logic_Expert", "content": "m03 check"},
        {"role": "user", "name": "Computer_terminal", "content": "exitcode: 1\nm04"},
        {"role": "user", "name": "Verifier", "content": "m05 TERMINATE"},
    ],
    "mistake_agent": "Logic_Expert",
    "mistake_step": "3",
    "mistake_reason": "m06 wrong column",
    "system_prompt": {"Excel_Expert": "p1", "Logic_Expert": "p2"},
}

MAGENTIC = {
    "question": "m00 find the paper",
    "history": [
        {"role": "assistant", "name": "Orchestrator (thought)", "content": "m01 plan"},
        {"role": "assistant", "name": "Orchestrator (-> WebSurfer)", "content": "m02 search arxiv"},
        {"role": "user", "name": "WebSurfer", "content": "m03 found it"},
        {"role": "assistant", "name": "Orchestrator (termination condition)", "content": "m04 done"},
    ],
    "mistake_agent": "WebSurfer",
    "mistake_step": 2,
    "mistake_reason": "wrong paper",
}


def test_who_and_when_agents_and_human_label(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "1.json", WHO_WHEN))
    assert summary["format"] == "multiagent"
    assert_round_trip(traj, [f"m0{i}" for i in range(6)])
    assert [(t["role"], t.get("name")) for t in traj["turns"]] == [
        ("assistant", "Excel_Expert"),
        ("user", "Computer_terminal"),
        ("assistant", "Logic_Expert"),
        ("user", "Computer_terminal"),
        ("assistant", "Verifier"),
    ]
    # history entry 3 is the terminal answering Logic_Expert's step (step 1)
    assert traj["meta"]["failure"] == {
        "agent": "Logic_Expert",
        "reason": "m06 wrong column",
        "tags": ["other"],
        "source_step": 3,
        "first_step": 1,
    }
    assert traj["label"] == "failure" and traj["system"] == "## Excel_Expert\np1\n\n## Logic_Expert\np2"
    store = Store(db)
    assert bulk(store, "fail", "tester", source_label="failure") == 1
    tags, step = store.con.execute("SELECT tags, first_step FROM events").fetchone()
    store.close()
    assert (tags, step) == (["other"], 1)


def test_magentic_one_orchestrator_messages_are_actions(tmp_path, db):
    _, (traj,) = stored(db, write(tmp_path, "m1.json", MAGENTIC))
    assert_round_trip(traj, ["m00", "m01", "m02", "m03", "m04"])
    assert roles(traj) == "aata"
    assert calls(traj) == [("WebSurfer", {"request": "m02 search arxiv"}, "step_1")]
    assert results(traj) == [("step_1", "m03 found it")] and traj["turns"][2]["name"] == "WebSurfer"
    assert traj["meta"]["failure"]["first_step"] == 1


# ---- FireAct runs with `traj` as one string ----

FIREACT_TRAJ = {
    "3687": {
        "reward": False,
        "em": False,
        "f1": 0.4,
        "gt": "beyond clouds",
        "pred": "m10 wrong",
        "prompt": "",
        "traj": (
            "m01 Below is an instruction that describes a task.\n\n### Instruction:\nm05 the real question?\n\n"
            "### Response:\nThought: m06 search\nAction: search[m07]\nObservation: m08 a page\n"
            "Thought: m09 answer\nAction: finish[m10 wrong]\nObservation: Episode finished, reward = False\n"
        ),
    },
    "few-shot": {
        "reward": True,
        "traj": (
            "m01 Solve a question answering task with Thought, Action, Observation steps.\n"
            "Question: m02 demo question\nThought: m03 demo\nAction: finish[m04 demo]\n\n"
            "Question: m05 the real question?\n"
            "Thought: m06 search\nAction: search[m07]\nObservation: m08 a page\n"
            "Thought: m09 answer\nAction: finish[m10 right]\nObservation: Episode finished, reward = True\n"
        ),
    },
}


def test_fireact_traj_string(tmp_path, db):
    summary, (alpaca, shots) = stored(db, write(tmp_path, "trajs.json", FIREACT_TRAJ))
    assert summary["format"] == "fireact"
    assert_round_trip(alpaca, ["m01", "m05", "m06", "m07", "m08", "m09", "m10"])
    assert alpaca["instruction"] == "m05 the real question?" and alpaca["system"].startswith("m01 Below")
    assert roles(alpaca) == "ata" and alpaca["turns"][-1]["content"] == "m10 wrong"
    assert (
        alpaca["label"] == "failure"
        and alpaca["meta"]["f1"] == 0.4
        and alpaca["meta"]["gt"] == "beyond clouds"
    )
    assert "###" not in alpaca["system"] + alpaca["instruction"]
    assert_round_trip(shots, [f"m{i:02d}" for i in range(1, 11)])
    assert shots["instruction"] == "m05 the real question?" and "m04 demo" in shots["system"]
    assert shots["label"] == "success"


# ---- ALFWorld ----

ALFWORLD_EPISODE = """You are in the middle of a room. Looking quickly around you, you see a m01 fridge 1.
Your task is to: put a m02 lettuce in diningtable.
> think: m03 I need a lettuce.
OK.
> go to fridge 1
m04 The fridge 1 is closed.
> open fridge 1
m05 You open the fridge 1. In it, you see a lettuce 1.
> take lettuce 1 from fridge 1
m06 You pick up the lettuce 1.
"""


def test_alfworld_prompt_examples_and_run_log(tmp_path, db):
    summary, (traj,) = stored(db, write(tmp_path, "alfworld_prompts.json", {"react_put_1": ALFWORLD_EPISODE}))
    assert summary["format"] == "alfworld"
    assert_round_trip(traj, ["m01", "m02", "m03", "m04", "m05", "m06"])
    assert roles(traj) == "atatat" and traj["turns"][0]["thought"] == "m03 I need a lettuce."
    assert traj["turns"][0]["meta"] == {"acks": ["OK."]}
    assert calls(traj)[0] == ("go", {"command": "go to fridge 1"}, "step_1")
    log = "Interact with a household to solve a task. Here are two examples.\n" + ALFWORLD_EPISODE
    log += "Here is the task.\n" + ALFWORLD_EPISODE.replace("m0", "r0")
    _, (run,) = stored(tmp_path / "b.duckdb", write(tmp_path, "run.txt", log))
    assert_round_trip(run, ["r01", "r02", "r03", "r04", "r05", "r06"])
    assert "m04" in run["system"]  # the example episode is the prompt the model saw


# ---- the public files ----


def test_real_claude_code_codex_and_langfuse(realdata, tmp_path):
    _, (cc,) = stored(tmp_path / "a.duckdb", str(realdata / "claudecode_session_tool_heavy.jsonl"))
    assert len(calls(cc)) == 6 and {i for _, _, i in calls(cc)} == {i for i, _ in results(cc)}
    assert any("research why scrolling" in t.get("thought", "") for t in cc["turns"])
    _, (codex,) = stored(tmp_path / "b.duckdb", str(realdata / "codex_rollout_crud.jsonl"))
    assert len(calls(codex)) == 4 and [i for _, _, i in calls(codex)] == [i for i, _ in results(codex)]
    assert codex["turns"][0]["thought"] == "**Planning file operations and command sequence**"
    assert codex["instruction"].endswith("then delete the file.")
    _, (lf,) = stored(tmp_path / "c.duckdb", str(realdata / "langfuse_trace_microsoft_agent.json"))
    assert calls(lf) == [("get_weather", {"location": "Tokyo, Japan"}, "call_CwaJHuXTm9dmHFQPlVbqyzJ0")]
    assert results(lf)[0][1].startswith("The weather in Tokyo") and lf["label"] == "success"


def test_real_tau2_and_who_and_when(realdata, tmp_path):
    source = orjson.loads((realdata / "tau2_telecom_gpt4o_simulations.json").read_bytes())
    summary, trajs = stored(tmp_path / "a.duckdb", str(realdata / "tau2_telecom_gpt4o_simulations.json"))
    assert summary["imported"] == len(source["simulations"]) == 20
    agent_calls = sum(len(calls(t)) for t in trajs)
    user_calls = sum(
        len(a.get("tool_calls", []))
        for t in trajs
        for u in t["turns"]
        for a in u.get("meta", {}).get("user_tool_activity", [])
    )
    assert agent_calls + user_calls == 215 and agent_calls == sum(len(results(t)) for t in trajs)
    rewards = [s["reward_info"]["reward"] for s in source["simulations"]]
    assert [t["label"] for t in trajs] == ["success" if r > 0 else "failure" for r in rewards]
    _, (ww,) = stored(tmp_path / "b.duckdb", str(realdata / "whowhen_algorithm_generated_1.json"))
    assert ww["meta"]["failure"]["agent"] == "Excel_Expert" and ww["label"] == "failure"
    assert all(t.get("name") for t in ww["turns"])


@pytest.mark.parametrize("name", ["claudecode_session_tool_heavy.jsonl", "codex_rollout_crud.jsonl"])
def test_event_logs_read_whole_when_split(realdata, name):
    """An event log's trajectory spans the file: the second part of a two-process read adds nothing."""
    first = list(parse_file(realdata / name, part=(0, 2)).items)
    second = list(parse_file(realdata / name, family=parse_file(realdata / name).format, part=(1, 2)).items)
    assert len(first) == 1 and not isinstance(first[0], Bad) and second == []


def test_review_screen_shows_agents_source_failure_and_episode_end(tmp_path):
    from curator.app.render import source_failure_html, trajectory_html

    (traj,) = parse_file(write(tmp_path, "1.json", WHO_WHEN)).items
    html = trajectory_html(1, 1, traj.turns, [])
    assert "Logic_Expert" in html and "User · Computer_terminal" in html
    assert source_failure_html(traj.meta) == (
        '<div class="meta source-failure">Source failure at step 2 by Logic_Expert: m06 wrong column</div>'
    )
    run, _ = parse_file(write(tmp_path, "trajs.json", FIREACT_TRAJ)).items
    html = trajectory_html(1, 1, run.turns, [])
    assert "Episode end (source)" in html and html.count("Episode finished") == 1


def test_event_log_line_of_the_wrong_shape_is_quarantined_alone(tmp_path, db):
    lines = [*CLAUDE_CODE[:3], ["not", "an", "event"], *CLAUDE_CODE[3:12]]
    summary, (main,) = stored(db, write(tmp_path, "session.jsonl", lines))
    assert summary["imported"] == 1 and summary["quarantined"] == 1
    assert summary["errors"][0]["where"] == "line 4" and "event object" in summary["errors"][0]["reason"]
    assert len(calls(main)) == 3


def test_otlp_spans_with_openinference_attributes(tmp_path, db):
    export = {
        "resourceSpans": [{"scopeSpans": [{"spans": [otlp_span("1", OPENINFERENCE[0]["attributes"])]}]}]
    }
    summary, (traj,) = stored(db, write(tmp_path, "phoenix_otlp.json", export))
    assert summary["format"] == "otel" and traj["system"] == "m01" and traj["instruction"] == "m02"
    assert calls(traj) == [("lookup", {"q": "m03"}, "c1")]
