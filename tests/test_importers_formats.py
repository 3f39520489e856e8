"""Small hand-written records for every format variant the importers read, and bad records that
land in quarantine with a reason naming the field while the good records beside them import."""

from __future__ import annotations

import json

import pytest
from roundtrip import write

from curator.importers import Bad, parse_file


def load(tmp_path, name: str, content, fmt: str = "auto"):
    """Write `content` (text, or records to write as JSONL / one JSON value) and import it."""
    parsed = parse_file(write(tmp_path, name, content), family=fmt, teacher="cli-teacher")
    items = list(parsed.items)
    return (
        parsed.format,
        [i for i in items if not isinstance(i, Bad)],
        [i for i in items if isinstance(i, Bad)],
    )


def call(name, arguments, call_id="c1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def chat(**extra):
    return {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [call("get_weather", '{"city": "Oslo"}')],
            },
            {"role": "tool", "tool_call_id": "c1", "content": {"temp": 3}},
            {"role": "assistant", "content": "3 degrees."},
        ],
        **extra,
    }


# ---- OpenAI chat ----


def test_openai_tool_calls_tools_as_list_or_string(tmp_path):
    fmt, (as_list, as_string), bad = load(
        tmp_path,
        "a.jsonl",
        [
            chat(tools=[{"type": "function", "function": WEATHER_TOOL}]),
            chat(tools=json.dumps([WEATHER_TOOL])),
        ],
    )
    assert fmt == "openai" and bad == []
    assert as_list.task.tools == as_string.task.tools == ({"type": "function", "function": WEATHER_TOOL},)
    turn = as_list.turns[0]
    assert turn.thought == "Let me check." and turn.content == ""
    assert turn.tool_calls[0].arguments == {"city": "Oslo"} and turn.tool_calls[0].id == "c1"
    result = as_list.turns[1]
    assert result.content == '{"temp":3}' and result.name == "get_weather"  # dict dumped as JSON
    assert as_list.turns[2].content == "3 degrees." and not as_list.turns[2].thought
    assert as_list.task.system == "Be brief." and as_list.teacher == "cli-teacher"


def test_openai_legacy_function_call_and_functions(tmp_path):
    record = {
        "functions": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": {"city": "Oslo"}},
            },
            {"role": "function", "name": "get_weather", "content": "3 degrees"},
            {"role": "assistant", "content": "It is 3 degrees."},
        ],
    }
    _, (t,), bad = load(tmp_path, "legacy.json", [record])
    assert bad == []
    assert t.task.tools[0]["function"]["name"] == "get_weather"
    assert t.turns[0].tool_calls[0].arguments == {"city": "Oslo"}
    assert (t.turns[1].role, t.turns[1].name, t.turns[1].content) == ("tool", "get_weather", "3 degrees")


def test_openai_arguments_not_valid_json_kept_raw(tmp_path):
    record = chat()
    record["messages"][2]["tool_calls"] = [call("get_weather", '{"city": "Oslo"')]
    _, (t,), bad = load(tmp_path, "raw.jsonl", [record])
    assert bad == [] and t.turns[0].tool_calls[0].arguments == '{"city": "Oslo"'


def test_openai_id_to_record_object_and_labels(tmp_path):
    fmt, trajectories, bad = load(
        tmp_path,
        "by_id.json",
        {
            "task-a": chat(reward=1.0),
            "task-b": chat(success=False, model="gpt-x"),
        },
    )
    assert fmt == "openai" and bad == []
    a, b = trajectories
    assert (a.task.source_task_id, a.source_label, a.source_reward) == ("task-a", "success", 1.0)
    assert a.source.record == "key 'task-a'"
    assert (b.task.source_task_id, b.source_label, b.teacher) == ("task-b", "failure", "gpt-x")


def test_sample_set_record_keeps_ground_truth(tmp_path):
    failure = {"tags": ["wrong_tool_args"], "first_step": 2}
    _, (t,), _ = load(
        tmp_path,
        "trajectories.jsonl",
        [
            chat(
                task_id="weather-7",
                tools=[{"type": "function", "function": WEATHER_TOOL}],
                label="failure",
                teacher="teacher-model",
                failure=failure,
            )
        ],
    )
    assert t.task.source_task_id == "weather-7" and t.source_label == "failure"
    assert t.teacher == "teacher-model" and t.meta["failure"] == failure


def test_unknown_label_word_is_kept_not_guessed(tmp_path):
    _, (t,), _ = load(tmp_path, "l.jsonl", [chat(label="meh")])
    assert t.source_label is None and t.meta["label"] == "meh"


def test_wrappers_traj_and_nested_messages(tmp_path):
    inner = chat()["messages"]
    _, trajectories, bad = load(
        tmp_path,
        "w.json",
        [
            {"task_id": 4, "trial": 2, "reward": 0.0, "traj": inner},
            {"id": "x", "sample": {"messages": inner, "reward": 1}},
            {"conversations": inner},
            inner,
        ],
    )
    assert bad == [] and len(trajectories) == 4
    tau, nested, conversations, bare = trajectories
    assert (tau.task.source_task_id, tau.meta["trial"], tau.source_label) == ("4", 2, "failure")
    assert (nested.task.source_task_id, nested.source_label) == ("x", "success")
    assert conversations.turns == bare.turns == tau.turns


def test_typed_parts_reasoning_and_tool_call_in_one_turn(tmp_path):
    record = {
        "tools": json.dumps([{"type": "function", "function": WEATHER_TOOL}]),
        "messages": [
            {"role": "user", "content": [{"type": "text", "value": "Weather in Oslo?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "reasoning", "value": "I should call the tool."},
                    {"type": "tool_call", "value": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'},
                ],
            },
            {"role": "tool", "content": [{"type": "text", "value": "3 degrees"}]},
            {
                "role": "assistant",
                "content": [{"type": "reasoning", "value": "Done."}, {"type": "text", "value": "3 degrees."}],
            },
        ],
    }
    openai_parts = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {
                "role": "assistant",
                "reasoning_content": "Greet back.",
                "content": [{"type": "text", "text": "Hello!"}],
            },
        ]
    }
    _, (t, o), bad = load(tmp_path, "parts.jsonl", [record, openai_parts])
    assert bad == [] and t.task.instruction == "Weather in Oslo?"
    first = t.turns[0]
    assert first.thought == "I should call the tool."
    assert first.tool_calls[0].name == "get_weather" and first.tool_calls[0].arguments == {"city": "Oslo"}
    assert (t.turns[1].content, t.turns[1].name) == ("3 degrees", "get_weather")
    assert (t.turns[2].thought, t.turns[2].content) == ("Done.", "3 degrees.")
    assert (o.task.instruction, o.turns[0].thought, o.turns[0].content) == ("Hi", "Greet back.", "Hello!")


def test_fireact_style_react_in_chat(tmp_path):
    record = {
        "messages": [
            {"role": "user", "content": "Who wrote Hamlet?"},
            {"role": "assistant", "content": "Thought: Search it.\nAction: search[Hamlet]"},
            {"role": "user", "content": "Observation: Hamlet is a play by Shakespeare."},
            {"role": "assistant", "content": "Thought: Found it.\nAction: finish[Shakespeare]"},
            {"role": "user", "content": "Observation: Episode finished, reward = False"},
        ]
    }
    _, (t,), _ = load(tmp_path, "fireact.jsonl", [record])
    assert [turn.role for turn in t.turns] == ["assistant", "tool", "assistant"]
    assert t.turns[0].tool_calls[0].arguments == {"input": "Hamlet"}
    assert t.turns[1].content == "Hamlet is a play by Shakespeare."
    assert (t.turns[2].thought, t.turns[2].content) == ("Found it.", "Shakespeare")
    assert t.source_label == "failure"


# ---- ShareGPT ----


def test_sharegpt_function_calls_system_and_plain_chat(tmp_path):
    tools = json.dumps([WEATHER_TOOL])
    records = [
        {
            "system": "Be brief.",
            "tools": tools,
            "conversations": [
                {"from": "human", "value": "Weather in Oslo and Rome?"},
                {
                    "from": "function_call",
                    "value": json.dumps(
                        [
                            {"name": "get_weather", "arguments": {"city": "Oslo"}},
                            {"name": "get_weather", "arguments": {"city": "Rome"}},
                        ]
                    ),
                },
                {"from": "observation", "value": "3"},
                {"from": "observation", "value": "20"},
                {"from": "gpt", "value": "Oslo 3, Rome 20."},
            ],
        },
        {
            "conversations": [
                {"from": "system", "value": "Sys."},
                {"from": "user", "value": "Weather?"},
                {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": '},
                {"from": "tool", "value": "error"},
                {"from": "assistant", "value": "Sorry."},
            ]
        },
        {
            "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}],
            "tools": "[]",
        },
    ]
    fmt, (calls, broken, plain), bad = load(tmp_path, "sharegpt.json", records)
    assert fmt == "sharegpt" and bad == []
    assert calls.task.system == "Be brief." and len(calls.task.tools) == 1
    assert [c.arguments["city"] for c in calls.turns[0].tool_calls] == ["Oslo", "Rome"]
    assert [turn.role for turn in calls.turns] == ["assistant", "tool", "tool", "assistant"]
    assert broken.task.system == "Sys."
    assert broken.turns[0].tool_calls[0].name == "get_weather"
    assert broken.turns[0].tool_calls[0].arguments == '{"name": "get_weather", "arguments": {"city": '
    assert plain.task.tools == () and plain.turns[0].content == "Hello"


def test_toolllama_react_text_in_sharegpt(tmp_path):
    record = {
        "id": "q1",
        "conversations": [
            {"from": "system", "value": "You are AutoGPT."},
            {"from": "user", "value": "Weather in Oslo?"},
            {
                "from": "assistant",
                "value": '\nThought: Call it.\nAction: get_weather\nAction Input: {"city": "Oslo"}',
            },
            {"from": "function", "value": '{"temp": 3}'},
            {
                "from": "assistant",
                "value": "\nThought: Done.\nAction: Finish\nAction Input: "
                '{"return_type": "give_answer", "final_answer": "3"}',
            },
        ],
    }
    _, (t,), bad = load(tmp_path, "toolllama.json", [record])
    assert bad == [] and t.task.source_task_id == "q1"
    assert t.turns[0].tool_calls[0].arguments == {"city": "Oslo"}
    assert t.turns[1].name == "get_weather"
    assert (t.turns[2].thought, t.turns[2].content, t.turns[2].tool_calls) == ("Done.", "3", ())


# ---- ReAct text ----

SEED = """Find the weather in Tokyo and book a flight if it's sunny.
THOUGHT: I need to check the weather in Tokyo first.
ACTION: get_weather(location="Tokyo")
RESULT: {"weather": "Sunny", "temp": 22}
THOUGHT: It is sunny. Now I will book the flight.
ACTION: book_flight(destination="Tokyo", seats=2)
FINISHED: Flight booked to Tokyo.

What is 17 * 3?
THOUGHT: Use the calculator.
ACTION: calculator(expression="17*3")
RESULT: 51
FINISHED: 51
"""


def test_seed_text_with_several_trajectories(tmp_path):
    fmt, (tokyo, maths), bad = load(tmp_path, "seed.txt", SEED)
    assert fmt == "react" and bad == []
    assert tokyo.task.instruction == "Find the weather in Tokyo and book a flight if it's sunny."
    assert tokyo.turns[0].tool_calls[0].arguments == {"location": "Tokyo"}
    assert tokyo.turns[0].raw == (
        'THOUGHT: I need to check the weather in Tokyo first.\nACTION: get_weather(location="Tokyo")'
    )
    assert tokyo.turns[1].content == '{"weather": "Sunny", "temp": 22}'
    assert tokyo.turns[2].tool_calls[0].arguments == {"destination": "Tokyo", "seats": 2}
    assert tokyo.turns[3].content == "Flight booked to Tokyo."
    assert maths.task.instruction == "What is 17 * 3?"
    assert [turn.role for turn in maths.turns] == ["assistant", "tool", "assistant"]
    assert maths.source.record == "file, example 2"


def test_react_numbered_prompt_as_json_string_and_object(tmp_path):
    prompt = (
        "Solve a question answering task.\n"
        "Question: Who is older?\nThought 1: Search A.\nAction 1: Search[A]\n"
        "Observation 1: A was born 1900.\nThought 2: Done.\nAction 2: Finish[A]\n"
        "Question: Is B a city?\nAction 1: Lookup[B]\nObservation 1: (Result 1 / 1) yes\n"
        "Action 2: Finish[yes]\n"
    )
    _, trajectories, bad = load(tmp_path, "prompt.json", prompt)  # a JSON document that is a string
    assert bad == [] and len(trajectories) == 2
    assert trajectories[0].task.system == "Solve a question answering task."
    assert trajectories[1].turns[0].tool_calls[0].name == "Lookup"
    fmt, (single,), _ = load(tmp_path, "prompts.json", {"one": "Question: Q?\nAnswer: A"})
    assert fmt == "react" and single.task.source_task_id == "one"
    assert single.turns[0].content == "A"


def test_react_langchain_action_input_and_raw_arguments(tmp_path):
    text = (
        "Question: Weather?\nThought: Ask the tool.\nAction: weather\nAction Input: Oslo\n"
        "Observation: 3\nThought: Bad call next.\nAction: lookup(city=Oslo)\n"
        "Observation: error\nFinal Answer: 3 degrees"
    )
    _, (t,), _ = load(tmp_path, "lc.txt", text)
    assert t.turns[0].tool_calls[0].arguments == {"input": "Oslo"}
    assert t.turns[2].tool_calls[0].arguments == "city=Oslo"  # not a literal: kept raw
    assert t.turns[-1].content == "3 degrees"


def test_react_fever_claims_and_webshop_pages(tmp_path):
    fever = (
        "Determine if a Claim is SUPPORTED or REFUTED.\nClaim: A is B.\nAction 1:Search[A]\n"
        "Observation 1: A is B.\nAction 2:Finish[SUPPORTS]\n\nClaim: C is D.\n"
        "Thought: C is E.\nAnswer:REFUTES\n"
    )
    webshop = (
        "Webshop \nInstruction:  \ni want white shades under 110 dollars\n[Search]  \n\n"
        "Action 1: search[white shades]\nObservation 1: \n[Back to Search] \n[B07L] Blind\n\n"
        "Action 2: think[Wrong size; search again.]\nObservation 2: OK.\n\n"
        "Action 3: click[Back to Search]\nObservation 3: \nWebshop \nInstruction:  \n"
        "i want white shades under 110 dollars\n[Search]  \n\nAction 4: click[Buy Now]\n\n"
        "Webshop \nInstruction:  \ni would like a deodorant\n[Search]  \n\n"
        "Action 1: click[Buy Now]\n"
    )
    _, (a, c, shades, deodorant), bad = load(tmp_path, "prompts.json", {"fever": fever, "webshop": webshop})
    assert bad == [] and a.task.system == "Determine if a Claim is SUPPORTED or REFUTED."
    assert (a.task.instruction, a.turns[-1].content) == ("A is B.", "SUPPORTS")
    assert (c.turns[0].thought, c.turns[0].content) == ("C is E.", "REFUTES")
    assert shades.task.instruction.startswith("i want white shades") and shades.task.system == "Webshop"
    assert [call.name for turn in shades.turns for call in turn.tool_calls] == ["search", "click", "click"]
    assert shades.turns[2].thought == "Wrong size; search again."  # think[...] is a thought
    assert "Instruction:" in shades.turns[3].content  # the page the tool returned, not a new task
    assert deodorant.task.instruction.startswith("i would like a deodorant")


# ---- Alpaca ----


def test_alpaca_seed_react_response_and_plain_output(tmp_path):
    records = [
        {
            "instruction": "Find the weather in Tokyo and book a flight if it's sunny.",
            "context": "Current Date: 2025-10-10",
            "response": SEED.split("\n", 1)[1].split("\n\n")[0],
        },
        {"instruction": "Translate 'hi'", "input": "to French", "output": "salut", "id": "t9"},
        {
            "instruction": "And to German?",
            "input": "",
            "output": "hallo",
            "history": [["Translate 'hi' to French", "salut"]],
        },
        {
            "instruction": "Who wrote Hamlet?",
            "input": "",  # FireAct's alpaca_format
            "output": "Thought: Search it.\nAction: search[Hamlet author]\nObservation: Shakespeare\n"
            "Thought: Done.\nAction: finish[Shakespeare]\n"
            "Observation: Episode finished, reward = True\n",
        },
    ]
    fmt, (seed, plain, history, fireact), bad = load(tmp_path, "alpaca.json", records)
    assert fmt == "alpaca" and bad == []
    assert seed.task.context == "Current Date: 2025-10-10"
    assert [turn.role for turn in seed.turns] == ["assistant", "tool", "assistant", "assistant"]
    assert seed.turns[-1].content == "Flight booked to Tokyo."
    assert (plain.task.context, plain.turns[0].content, plain.task.source_task_id) == (
        "to French",
        "salut",
        "t9",
    )
    assert history.task.instruction == "Translate 'hi' to French"
    assert [(turn.role, turn.content) for turn in history.turns] == [
        ("assistant", "salut"),
        ("user", "And to German?"),
        ("assistant", "hallo"),
    ]
    assert [turn.role for turn in fireact.turns] == ["assistant", "tool", "assistant"]
    assert fireact.turns[0].tool_calls[0].arguments == {"input": "Hamlet author"}
    assert fireact.turns[-1].content == "Shakespeare" and fireact.source_label == "success"


# ---- SWE-agent ----


def test_sweagent_classic_commands_and_demos(tmp_path):
    traj = {
        "environment": "swe_main",
        "history": [
            {"role": "system", "content": "You are an autonomous programmer."},
            {"role": "user", "content": "Demo: fix this.", "is_demo": True},
            {"role": "user", "content": "ISSUE: crash on empty input"},
        ],
        "trajectory": [
            {
                "thought": "Look first.",
                "action": "ls -la\n",
                "observation": "a.py",
                "response": "Look first.\n```\nls -la\n```",
                "state": "{}",
            },
            {
                "thought": "Submit.",
                "action": "submit",
                "observation": "diff --git a/a.py",
                "response": "Submit.\n```\nsubmit\n```",
            },
        ],
        "info": {"exit_status": "submitted", "submission": "diff --git a/a.py b/a.py"},
    }
    fmt, (t,), bad = load(tmp_path, "django__django-1.traj", traj)
    assert fmt == "sweagent" and bad == []
    assert (t.task.instruction, t.task.system) == (
        "ISSUE: crash on empty input",
        "You are an autonomous programmer.",
    )
    assert t.task.source_task_id == "django__django-1"
    call = t.turns[0].tool_calls[0]
    assert (call.name, call.arguments) == ("ls", {"command": "ls -la\n"})
    assert t.turns[0].raw == "Look first.\n```\nls -la\n```"
    assert (t.turns[1].role, t.turns[1].content) == ("tool", "a.py")
    assert t.turns[2].content == "diff --git a/a.py b/a.py" and not t.turns[2].tool_calls
    assert t.source_label is None and t.teacher == "cli-teacher"


# ---- ToolBench ----


def test_toolbench_lost_run_and_give_up(tmp_path):
    answer = {
        "win": False,
        "answer_generation": {
            "function": str([WEATHER_TOOL]),
            "finish_type": "give_up",
            "train_messages": [
                [
                    {"role": "system", "content": "You are AutoGPT."},
                    {"role": "user", "content": "Weather in Oslo?"},
                    {
                        "role": "assistant",
                        "content": "I give up.",
                        "function_call": {
                            "name": "Finish",
                            "arguments": '{"return_type": "give_up_and_restart"}',
                        },
                    },
                ]
            ],
        },
    }
    fmt, (t,), bad = load(tmp_path, "answer.json", answer)
    assert fmt == "toolbench" and bad == []
    assert t.source_label == "failure" and t.meta["finish_type"] == "give_up"
    assert t.task.tools[0]["function"]["name"] == "get_weather"  # from a Python-literal string
    assert t.turns[0].tool_calls[0].name == "Finish" and t.turns[0].thought == "I give up."


# ---- Bad records ----


@pytest.mark.parametrize(
    "record, reason",
    [
        (
            {"messages": [{"role": "robot", "content": "hi"}]},
            "field 'messages[0].role': unknown role 'robot'",
        ),
        ({"messages": [{"role": "user", "content": "hi"}]}, "field 'messages': no assistant turn"),
        (
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]},
            "field 'messages[0].content': expected text or a list of content parts, got a number",
        ),
        ({"messages": "hello"}, "field 'messages': expected a list of messages, got text"),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]},
                ]
            },
            "field 'messages[1].tool_calls[0].function.name': missing",
        ),
        (
            {
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                "tools": 7,
            },
            "field 'tools': expected a list of function specs, got a number",
        ),
        (
            {
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                "reward": "high",
            },
            "field 'reward': expected a number, got text",
        ),
        (
            {"messages": [{"role": "system", "content": "s"}]},
            "field 'messages': no user or assistant message",
        ),
        (["not", "messages"], "field 'record[0]': expected a message object, got text"),
    ],
)
def test_bad_openai_records_are_quarantined_beside_good_ones(tmp_path, record, reason):
    fmt, good, bad = load(tmp_path, "mixed.jsonl", [chat(), record, chat(id="after")])
    assert fmt == "openai" and len(good) == 2 and good[1].task.source_task_id == "after"
    (item,) = bad
    assert item.where == "line 2" and item.reason.startswith(reason), item.reason
    assert item.raw


@pytest.mark.parametrize(
    "name, records, reason",
    [
        (
            "s.json",
            [
                {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "x"}]},
                {"conversations": [{"from": "alien", "value": "hi"}]},
            ],
            "field 'conversations[0].from': unknown role 'alien'",
        ),
        (
            "s.json",
            [
                {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "x"}]},
                {"conversations": [{"from": "human", "value": 5}]},
            ],
            "field 'conversations[0].value': expected text or a list of content parts, got a number",
        ),
        (
            "a.json",
            [{"instruction": "q", "output": "a"}, {"instruction": "q", "output": 3}],
            "field 'output': expected text, got a number",
        ),
        (
            "a.json",
            [{"instruction": "q", "output": "a"}, {"instruction": ["q"], "output": "a"}],
            "field 'instruction': expected text, got a list",
        ),
        ("p.json", {"good": "Question: q\nAnswer: a", "bad": 12}, "expected ReAct text, got a number"),
    ],
)
def test_bad_records_of_other_families(tmp_path, name, records, reason):
    _, good, bad = load(tmp_path, name, records)
    assert len(good) == 1 and len(bad) == 1
    assert bad[0].reason.startswith(reason), bad[0].reason


def test_bad_sweagent_and_toolbench_files(tmp_path):
    _, _, (bad,) = load(
        tmp_path,
        "x.traj",
        {"trajectory": [{"action": None}], "history": [{"role": "user", "content": "ISSUE"}], "info": {}},
    )
    assert bad.reason == "field 'trajectory[0].action': expected the command as text, got null"
    _, _, (bad,) = load(tmp_path, "t.json", {"win": True, "answer_generation": {"train_messages": []}})
    assert bad.reason.startswith("field 'answer_generation.train_messages': empty")
