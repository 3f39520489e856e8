"""Import never misplaces a step: for each family, a record in the source's shape whose every
message carries a unique marker (`m01`, `m02`, ...) is imported into a real store, and every marker
is found exactly once, in source order, in what the store holds (task, turns, step metadata); the
source's own outcome is its label. Shapes from public files: NAT StrategyQA (records that start
with the assistant, `info.reward`), FireAct multi-method lines, Reflexion run logs."""

from __future__ import annotations

import json

import orjson
import pytest
from roundtrip import assert_round_trip, roles, stored, text_of, write

from curator.ingest import import_file
from curator.store import Store

# ---- NAT StrategyQA: no user message before the first step; `info.reward` ----

NAT = [
    {
        "conversations": [
            {
                "role": "assistant",
                "content": "Thought: m01 think.\n\nAction: search[m02 query]",
                "loss": True,
            },
            {"role": "user", "content": "Observation:  #1: m03 result", "loss": False},
            {
                "role": "assistant",
                "content": f"Thought: m04 at t={source}.\n\nAction: finish[m05 Yes]",
                "loss": True,
            },
            {"role": "user", "content": "Observation: Episode finished", "loss": False},
        ],
        "info": {"reward": reward, "acc": reward, "gt": True, "pred": "Yes"},
        "id": "b8677742616fef051f00",
        "source": source,
    }
    for reward, source in ((True, "0.2"), (False, "0.5"))
]


def test_nat_records_start_with_the_assistant(tmp_path, db):
    summary, trajs = stored(db, write(tmp_path, "strategyqa_gpt-3.5.json", NAT))
    assert summary["imported"] == 2 and summary["quarantined"] == 0
    for traj in trajs:
        assert_round_trip(traj, ["m01", "m02", "m03", "m04", "m05"])
        assert traj["instruction"] == "" and traj["meta"]["task"]  # the record holds no question
        assert roles(traj) == "ata"  # the first step keeps its result
        assert traj["turns"][1]["content"] == "#1: m03 result"
        assert traj["turns"][2]["content"] == "m05 Yes"  # the answer, not the end marker
        assert traj["turns"][2]["meta"] == {"end": "Episode finished"}
    # the source's own outcome; both runs of one question are one task
    assert [t["label"] for t in trajs] == ["success", "failure"]


def test_runs_of_one_nat_question_share_a_task(tmp_path, db):
    store = Store(db)
    import_file(store, write(tmp_path, "nat.json", NAT))
    assert store.scalar("SELECT count(DISTINCT task_key) FROM trajectories") == 1
    store.close()


# ---- FireAct multi-method: some lines start with the assistant; `reward = 1` end markers ----

FIREACT = [
    {
        "messages": [
            {"role": "user", "content": "Question: m01 which?\nA. x\nB. y"},
            {"role": "assistant", "content": "Thought: m02.\nAction: search[m03]"},
            {"role": "user", "content": "Observation: m04"},
            {"role": "assistant", "content": "Thought: m05.\nAction: finish[B]"},
            {"role": "user", "content": "Observation: Episode finished, reward = 1"},
        ]
    },
    {
        "messages": [
            {"role": "assistant", "content": "Thought: m01 no question before me.\nAction: search[m02]"},
            {"role": "user", "content": "Observation: m03"},
            {"role": "assistant", "content": "Thought: m04.\nAction: search[m05]"},
            {"role": "user", "content": "Observation: m06"},
            {"role": "assistant", "content": "Thought: m07.\nAction: finish[m08]"},
            {"role": "user", "content": "Observation: Episode finished, reward = 0"},
        ]
    },
]


def test_fireact_multimethod_lines(tmp_path, db):
    summary, (first, second) = stored(db, write(tmp_path, "multitask_multimethod.jsonl", FIREACT))
    assert summary["imported"] == 2
    assert_round_trip(first, ["m01", "m02", "m03", "m04", "m05"])
    assert roles(first) == "ata" and first["label"] == "success"
    assert first["turns"][-1]["meta"]["end"] == "Episode finished, reward = 1"
    assert_round_trip(second, [f"m0{i}" for i in range(1, 9)])
    assert second["instruction"] == "" and roles(second) == "atata"
    assert [t["content"] for t in second["turns"] if t["role"] == "tool"] == ["m03", "m06"]
    assert second["label"] == "failure"
    assert "Episode finished" not in json.dumps([t.get("content") for t in second["turns"]])


def test_end_marker_after_an_unfinished_call_is_not_its_result(tmp_path, db):
    record = {
        "messages": [
            {"role": "user", "content": "m01"},
            {"role": "assistant", "content": "Thought: m02\nAction: search[m03]"},
            {"role": "user", "content": "Observation: Episode finished, reward = 0"},
        ]
    }
    _, (traj,) = stored(db, write(tmp_path, "cut.jsonl", [record, record | {"id": "x"}]))
    assert roles(traj) == "a" and traj["label"] == "failure"
    assert traj["turns"][0]["meta"] == {"end": "Episode finished, reward = 0"}


# ---- Reflexion run logs: banners, outcome sections, `Answer is CORRECT`, `Correct answer:` ----

REFLEXION = """
########################################
BEGIN TRIAL 1
Trial summary: Correct: 1, Incorrect: 1, Halted: 1
#######################################
------------- BEGIN CORRECT AGENTS -------------

Question: m01 Which band?
Thought 1: m02 I search.
Action 1: Search[m03 band]
Observation 1: m04 a page.
Thought 2: m05 found it.
Action 2: Finish[m06 Muse]
Observation 2: Answer is CORRECT
Correct answer: Muse

------------- BEGIN INCORRECT AGENTS -----------

You have attempted to answer following question before and failed. m10 Reflections:
- I should search first.
Question: m11 Which year?
Thought 1: m12 guess.
Action 1: Finish[m13 1990]
Observation 1: Answer is INCORRECT
Correct answer: 1989

------------- BEGIN HALTED AGENTS --------------

Question: m21 Who?
Thought 1: m22 look.
Action 1: Search[m23 who]
Observation 1: m24 nothing.
Correct answer: Bob

"""


def test_reflexion_log(tmp_path, db):
    summary, trajs = stored(db, write(tmp_path, "hotpotqa_trial_1.txt", REFLEXION))
    assert summary["format"] == "react" and summary["imported"] == 3
    correct, incorrect, halted = trajs
    assert_round_trip(correct, ["m01", "m02", "m03", "m04", "m05", "m06"])
    assert_round_trip(incorrect, ["m10", "m11", "m12", "m13"])
    assert incorrect["system"].startswith("You have attempted")  # the reflections it was given
    assert_round_trip(halted, ["m21", "m22", "m23", "m24"])
    assert correct["system"] is None and halted["system"] is None
    for traj in trajs:  # the banner is not a prompt the model saw
        assert "Trial summary" not in text_of(traj) and "BEGIN" not in text_of(traj)
        assert traj["meta"]["trial"] == 1
    assert [t["label"] for t in trajs] == ["success", "failure", "failure"]
    assert correct["turns"][-1]["content"] == "m06 Muse"
    assert correct["turns"][-1]["meta"] == {"end": "Answer is CORRECT"}
    assert [t["meta"]["correct_answer"] for t in trajs] == ["Muse", "1989", "Bob"]
    assert halted["turns"][-1] == {
        "role": "tool",
        "content": "m24 nothing.",
        "name": "Search",
        "raw": "Observation 1: m24 nothing.",
    }


# ---- the families read before: one round trip each ----


def test_openai_and_sharegpt_round_trip(tmp_path, db):
    record = {
        "messages": [
            {"role": "system", "content": "m01"},
            {"role": "user", "content": "m02"},
            {
                "role": "assistant",
                "content": "m03",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"q": "m04"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "m05"},
            {"role": "user", "content": "m06"},
            {"role": "assistant", "content": "m07"},
        ],
        "is_correct": False,
    }
    _, (traj,) = stored(db, write(tmp_path, "chat.jsonl", [record]))
    assert_round_trip(traj, [f"m0{i}" for i in range(1, 8)])
    assert roles(traj) == "atua" and traj["label"] == "failure"
    sharegpt = {
        "conversations": [
            {"from": "human", "value": "m01"},
            {"from": "function_call", "value": '{"name": "f", "arguments": {"q": "m02"}}'},
            {"from": "observation", "value": "m03"},
            {"from": "gpt", "value": "m04"},
        ],
        "system": "m00",
    }
    _, (traj,) = stored(tmp_path / "b.duckdb", write(tmp_path, "sg.json", [sharegpt]))
    assert_round_trip(traj, ["m00", "m01", "m02", "m03", "m04"])


def test_alpaca_and_sweagent_round_trip(tmp_path, db, realdata):
    record = {
        "instruction": "m01",
        "input": "m02",
        "output": "Thought: m03\nAction: search[m04]\nObservation: m05\nThought: m06\nAction: finish[m07]",
        "win": True,
    }
    _, (traj,) = stored(db, write(tmp_path, "alpaca.json", [record]))
    assert roles(traj) == "ata" and traj["label"] == "success"
    assert_round_trip(traj, ["m03", "m04", "m05", "m06", "m07"])
    _, (traj,) = stored(tmp_path / "b.duckdb", str(realdata / "sweagent_test_repo_6e44b9.traj"))
    source = orjson.loads((realdata / "sweagent_test_repo_6e44b9.traj").read_bytes())
    steps = [s for s in source["trajectory"] if s["action"].split()[0] != "submit"]
    results = [t["content"] for t in traj["turns"] if t["role"] == "tool"]
    assert results == [s["observation"] for s in steps]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"messages": [{"role": "system", "content": "only a prompt"}]}, "no user or assistant message"),
        ({"messages": []}, "no user or assistant message"),
    ],
)
def test_records_without_steps_are_quarantined_with_the_reason(tmp_path, db, record, reason):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    summary, _ = stored(db, write(tmp_path, "x.jsonl", [good, record]))
    assert summary["imported"] == 1 and summary["quarantined"] == 1
    assert reason in summary["errors"][0]["reason"]


def test_toolbench_round_trip(realdata, db):
    source = orjson.loads((realdata / "toolbench_g1_answer_10.json").read_bytes())
    messages = max(source["answer_generation"]["train_messages"], key=len)
    _, (traj,) = stored(db, str(realdata / "toolbench_g1_answer_10.json"))
    assert traj["system"] == messages[0]["content"] and traj["instruction"] == messages[1]["content"]
    steps = [m for m in messages[2:] if m["role"] == "assistant"]
    results = [m["content"] for m in messages[2:] if m["role"] == "function"]
    assert [t["content"] for t in traj["turns"] if t["role"] == "tool"] == results
    stored_calls = [c["name"] for t in traj["turns"] for c in t.get("tool_calls", [])]
    assert stored_calls == [m["function_call"]["name"] for m in steps[:-1]]  # the last is Finish: the answer
    assert traj["turns"][-1]["content"] and traj["label"] == "success"


def test_an_observation_is_never_the_task(tmp_path, db):
    record = {
        "question": "m00 the question",
        "messages": [
            {"role": "user", "content": "Observation: m01 the room"},
            {"role": "assistant", "content": "Thought: m02\nAction: finish[m03]"},
        ],
    }
    _, (traj,) = stored(db, write(tmp_path, "obs.jsonl", [record]))
    assert_round_trip(traj, ["m00", "m01", "m02", "m03"])
    assert traj["instruction"] == "m00 the question" and roles(traj) == "ua"
