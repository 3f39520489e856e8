"""The sample set: deterministic, real tool results, and ground-truth labels that hold on replay."""

import json
from collections import Counter

import pytest

from curator import samplegen
from curator.envs.sample import EVAL_TASKS, TASKS, TOOL_NAMES, TOOLS, get_task, replay
from curator.paths import SAMPLE_DIR

ASSETS = SAMPLE_DIR
FILES = ("trajectories.jsonl", "eval_tasks.jsonl", "tools.json", "README.md")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    samplegen.main(["--seed", "0", "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def records(generated):
    return [
        json.loads(line)
        for line in (generated / "trajectories.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def _assistant_turns(record):
    return [m for m in record["messages"] if m["role"] == "assistant"]


def test_same_seed_same_bytes_and_committed_assets_are_fresh(generated, tmp_path):
    samplegen.write(tmp_path, seed=0)
    for name in FILES:
        fresh = (generated / name).read_bytes()
        assert (tmp_path / name).read_bytes() == fresh, name
        assert (ASSETS / name).read_bytes() == fresh, f"{name} is stale: run python -m curator.samplegen"


def test_another_seed_gives_another_sample(generated, tmp_path):
    samplegen.write(tmp_path, seed=1)
    assert (tmp_path / "trajectories.jsonl").read_bytes() != (generated / "trajectories.jsonl").read_bytes()


def test_side_files(generated):
    assert json.loads((generated / "tools.json").read_text()) == TOOLS
    rows = [json.loads(line) for line in (generated / "eval_tasks.jsonl").read_text().splitlines()]
    assert rows == [{"task_id": t.task_id, "instruction": t.instruction} for t in EVAL_TASKS]


def test_counts(records):
    per_task = Counter(r["task_id"] for r in records)
    assert len(records) >= 300 and len(per_task) >= 60
    assert sum(1 for n in per_task.values() if n >= 2) >= 40
    assert set(per_task) <= {t.task_id for t in TASKS}
    failures = [r for r in records if r["label"] == "failure"]
    assert 0.35 <= len(failures) / len(records) <= 0.45
    assert {tag for r in failures for tag in r["failure"]["tags"]} == set(samplegen.TAGS)
    assert all(r["label"] in ("success", "failure") and r["teacher"] == samplegen.TEACHER for r in records)
    tasks_with_both = {r["task_id"] for r in failures} & {
        r["task_id"] for r in records if r["label"] == "success"
    }
    assert len(tasks_with_both) >= 40


def test_openai_chat_form(records):
    seen = set()
    for r in records:
        messages = r["messages"]
        assert r["tools"] == TOOLS
        assert [m["role"] for m in messages[:2]] == ["system", "user"]
        assert messages[1]["content"] == get_task(r["task_id"]).instruction
        pending = []
        for m in messages[2:]:
            assert m["role"] in ("assistant", "tool")
            if m["role"] == "tool":
                assert m["tool_call_id"] == pending.pop(0)["id"] and isinstance(m["content"], str)
                json.loads(m["content"])
                continue
            assert not pending and isinstance(m["content"], str) and m["content"]
            for call in m.get("tool_calls", []):
                assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
                pending.append(call)
        assert not pending
        assert len(json.dumps(messages, ensure_ascii=False)) < 3000  # a small model's training budget
        key = json.dumps(messages, sort_keys=True)
        assert key not in seen, "duplicate trajectory"
        seen.add(key)


def test_tool_results_are_real_executions(records):
    for r in records:
        _, results, _ = replay(r["messages"])
        contents = [json.loads(m["content"]) for m in r["messages"] if m["role"] == "tool"]
        assert contents == results, r["task_id"]


def test_successes_pass_and_planted_failures_fail_their_checkers(records):
    for r in records:
        world, _, final = replay(r["messages"])
        calls = [c for m in _assistant_turns(r) for c in m.get("tool_calls", [])]
        assert get_task(r["task_id"]).check(world, final) == (r["label"] == "success"), r
        if r["label"] == "success":
            assert final and all(c["function"]["name"] in TOOL_NAMES for c in calls)
            assert all(json.loads(c["function"]["arguments"]) is not None for c in calls)


def test_failure_ground_truth_matches_the_trajectory(records):
    successes = [r for r in records if r["label"] == "success"]
    for r in (r for r in records if r["label"] == "failure"):
        turns, k = _assistant_turns(r), r["failure"]["first_step"]
        (tag,) = r["failure"]["tags"]
        assert 0 <= k < len(turns), r
        faulty = turns[k]
        names = [c["function"]["name"] for c in faulty.get("tool_calls", [])]
        if tag == "hallucinated_tool":
            assert names and names[0] not in TOOL_NAMES
        if tag == "format_error":
            with pytest.raises(ValueError):
                json.loads(faulty["tool_calls"][0]["function"]["arguments"])
        if tag == "missing_final":
            assert r["messages"][-1]["role"] == "tool" and k == len(turns) - 1
        if tag == "loop":
            same = [json.dumps([c["function"] for c in t["tool_calls"]]) for t in turns[k - 1 : k + 2]]
            assert len(same) == 3 and len(set(same)) == 1
        # Every failure shares its prefix with a success of the same task and diverges at first_step.
        siblings = [_assistant_turns(s) for s in successes if s["task_id"] == r["task_id"]]
        assert any(s[:k] == turns[:k] and (tag == "missing_final" or s[k] != turns[k]) for s in siblings), r
