"""Every real public file in ../shared/realdata imports whole, detected as its format, with the
source's own labels, ids and tool calls read as the formats document them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from curator.importers import Bad, parse_file
from curator.paths import SAMPLE_TRAJECTORIES

REALDATA = Path(__file__).parents[1].parent / "shared" / "realdata"

# file -> (format, trajectories, records in the file)
EXPECTED = {
    "taubench_gpt4o_airline.json": ("openai", 200, 200),
    "llamafactory_glaive_toolcall_en.json": ("sharegpt", 300, 300),
    "llamafactory_reason_tool_use.jsonl": ("openai", 50, 50),
    "fireact_hotpotqa_openai.jsonl": ("openai", 500, 500),
    "react_prompts_naive.json": ("react", 51, 8),  # 8 prompts holding 51 Question: examples
    "sweagent_test_repo_6e44b9.traj": ("sweagent", 1, 1),
    "toolbench_g1_answer_10.json": ("toolbench", 1, 1),
}


def load(name: str, teacher: str | None = None):
    path = REALDATA / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the tests read ../shared/realdata beside the repo")
    parsed = parse_file(path, teacher=teacher)
    items = list(parsed.items)
    return (
        parsed.format,
        [i for i in items if not isinstance(i, Bad)],
        [i for i in items if isinstance(i, Bad)],
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_imports_whole(name):
    fmt, trajectories, bad = load(name)
    expected_format, expected_count, _records = EXPECTED[name]
    assert fmt == expected_format
    assert bad == []
    assert len(trajectories) == expected_count
    for t in trajectories:
        assert t.source.format == fmt and t.source.file.endswith(name)
        assert any(turn.role == "assistant" for turn in t.turns)


def test_taubench_labels_tasks_and_tool_calls():
    _, trajectories, _ = load("taubench_gpt4o_airline.json", teacher="gpt-4o")
    assert Counter(t.source_label for t in trajectories) == {"success": 84, "failure": 116}
    assert Counter(t.source_reward for t in trajectories) == {1.0: 84, 0.0: 116}
    assert len({t.task.task_key for t in trajectories}) == 50
    assert {t.task.source_task_id for t in trajectories} == {str(i) for i in range(50)}
    assert {t.meta["trial"] for t in trajectories} == {0, 1, 2, 3}
    first = trajectories[0]
    assert first.teacher == "gpt-4o"
    assert first.task.system.startswith("# Airline Agent Policy")
    call_turn = next(turn for turn in first.turns if turn.tool_calls)
    call = call_turn.tool_calls[0]
    assert call.name == "get_user_details" and call.arguments == {"user_id": "mia_li_3668"}
    result = first.turns[first.turns.index(call_turn) + 1]
    assert result.role == "tool" and result.tool_call_id == call.id and result.name == call.name


def test_glaive_sharegpt_calls_results_and_plain_chats():
    _, trajectories, _ = load("llamafactory_glaive_toolcall_en.json")
    assert sum(1 for t in trajectories if not t.task.tools) == 109
    calls = [c for t in trajectories for turn in t.turns for c in turn.tool_calls]
    assert len(calls) == 211 and all(isinstance(c.arguments, dict) for c in calls)
    first = trajectories[0]
    assert first.task.tools[0]["function"]["name"] == "search_recipes"
    roles = [turn.role for turn in first.turns]
    assert roles == ["assistant", "user", "assistant", "tool", "assistant", "user", "assistant"]
    assert first.turns[3].name == "search_recipes"
    assert first.turns[-1].content.startswith("I'm sorry")


def test_reason_tool_use_typed_parts():
    _, trajectories, _ = load("llamafactory_reason_tool_use.jsonl")
    turns = [turn for t in trajectories for turn in t.turns if turn.role == "assistant"]
    assert len(turns) == 112 and all(turn.thought for turn in turns)  # every turn reasons first
    assert sum(len(turn.tool_calls) for turn in turns) == 68
    assert sum(1 for turn in turns if turn.tool_calls) == 53  # some turns call several tools
    assert sum(1 for turn in turns if turn.content and not turn.tool_calls) == 59
    assert sum(1 for t in trajectories if t.task.tools) == 48  # two records offer `"tools": "[]"`
    movie = next(t for t in trajectories if "Inception" in t.task.instruction)
    assert movie.turns[0].tool_calls[0].arguments == {"title": "Inception"}
    assert movie.turns[1].role == "tool" and movie.turns[1].name == "get_movie_details"
    assert [turn.role for turn in movie.turns].count("user") == 1


def test_fireact_react_text_in_chat():
    _, trajectories, _ = load("fireact_hotpotqa_openai.jsonl")
    calls = [c for t in trajectories for turn in t.turns for c in turn.tool_calls]
    assert len(calls) == 885 and {c.name for c in calls} == {"search"}
    assert all(set(c.arguments) == {"input"} for c in calls)
    finals = [t.turns[-1] for t in trajectories]
    assert all(f.role == "assistant" and f.content and not f.tool_calls for f in finals)
    assert finals[0].content == "Badr Hari" and finals[0].raw.endswith("finish[Badr Hari]")
    # The environment's own verdict after finish[...]: "Episode finished, reward = True".
    assert Counter(t.source_label for t in trajectories) == {"success": 500}
    assert all(turn.role != "user" for t in trajectories for turn in t.turns)


def test_react_prompts_examples_and_mis_encoded_text():
    _, trajectories, _ = load("react_prompts_naive.json")
    by_prompt = Counter(t.source.record.split(",")[0] for t in trajectories)
    assert by_prompt["key 'webthink_simple'"] == 8 and by_prompt["key 'webqa_simple6'"] == 6
    first = trajectories[0]
    assert first.source.record == "key 'webthink_simple', example 1"
    assert first.task.instruction.startswith("Musician and satirist Allie Goertz")
    assert first.turns[0].tool_calls[0].name == "Search"
    assert first.turns[0].raw.startswith("Thought 1:")
    assert "naÃ¯vetÃ©" in first.turns[1].content  # kept as the source has it
    assert first.turns[-1].content == "Richard Nixon"
    qa = next(t for t in trajectories if t.source.record.startswith("key 'webqa_simple'"))
    assert len(qa.turns) == 1 and qa.turns[0].content == "Richard Nixon"
    assert all(t.task.source_task_id is None for t in trajectories)  # a prompt is not one task


def test_sweagent_steps_and_submit():
    _, (trajectory,), _ = load("sweagent_test_repo_6e44b9.traj")
    assistant = [turn for turn in trajectory.turns if turn.role == "assistant"]
    assert len(assistant) == 5 and all(turn.thought for turn in assistant)
    assert assistant[0].tool_calls[0].name == "find_file"
    assert assistant[0].tool_calls[0].arguments == {"file_name": "missing_colon.py"}
    assert assistant[3].tool_calls[0].name == "bash"
    assert "diff --git" in assistant[-1].content and not assistant[-1].tool_calls
    assert trajectory.teacher == "gpt-4o"
    assert trajectory.source_label is None  # submitted is not known to be resolved
    assert trajectory.meta["exit_status"] == "submitted"
    assert trajectory.task.source_task_id == "SWE-agent__test-repo-i1"
    assert trajectory.task.system.startswith("SETTING:")
    assert "ISSUE:" in trajectory.task.instruction


def test_toolbench_answer():
    _, (trajectory,), _ = load("toolbench_g1_answer_10.json")
    assert trajectory.source_label == "success"
    assert len(trajectory.task.tools) == 3
    final = trajectory.turns[-1]
    assert final.role == "assistant" and not final.tool_calls
    assert final.content.startswith("The contact details of the 'Gondrand' customs agency")
    assert [c.name for turn in trajectory.turns for c in turn.tool_calls] == [
        "transitaires_for_transitaires",
        "transitaire_for_transitaires",
    ]
    assert trajectory.turns[1].role == "tool"


def test_sample_set_imports_with_ground_truth():
    sample = SAMPLE_TRAJECTORIES
    parsed = parse_file(sample)
    items = list(parsed.items)
    assert parsed.format == "openai"
    assert [i for i in items if isinstance(i, Bad)] == []
    assert len(items) == sum(1 for line in sample.read_text().splitlines() if line.strip())
    for t in items:
        assert t.task.source_task_id and t.teacher and t.source_label in ("success", "failure")
        if t.source_label == "failure":
            assert set(t.meta["failure"]) >= {"tags", "first_step"}
