"""The evaluation harness (trainer.evaluate): scripted policies against the real tool world, reply parsing, the
metrics, the `curator eval` glue, and one end-to-end run of ModelPolicy on a tiny random model."""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import run_cli
from conftest_trainer import smol_path, tiny_base  # noqa: F401

from curator.envs.sample import EVAL_TASKS, TOOLS, get_task
from trainer import evaluate as ev
from trainer.ablate import table_lines
from trainer.errors import TrainerError
from trainer.evaluate import compare, evaluate, metrics_of, parse_reply, run_episode
from trainer.presets import TrainConfig


def call_text(name, arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


class Scripted:
    """Replies by turn number (the number of assistant messages so far); the last reply repeats."""

    def __init__(self, replies: list[str]):
        self.replies = replies
        self.seen: list[list[dict]] = []

    def __call__(self, messages, tools):
        assert tools == TOOLS
        self.seen.append(messages)
        turn = sum(m["role"] == "assistant" for m in messages)
        return self.replies[min(turn, len(self.replies) - 1)]


def perfect(task) -> Scripted:
    return Scripted(
        [f"I will call {name}.\n{call_text(name, args)}" for name, args in task.expected_calls]
        + [task.answers[0]]
    )


def by_task(policy_of):
    """A policy that dispatches on the task's instruction (for evaluate over many tasks)."""
    policies = {t.instruction: policy_of(t) for t in EVAL_TASKS}
    return lambda messages, tools: policies[messages[1]["content"]](messages, tools)


# ---------------------------------------------------------------------------------------------------------------
# Whole runs with scripted policies.


def test_perfect_policy_solves_every_eval_task():
    progress = []
    result = evaluate(
        by_task(perfect), max_steps=6, progress=lambda d, n: progress.append((d, n)), show_progress=False
    )
    assert len(EVAL_TASKS) == 41 and result["counts"]["tasks"] == 41
    assert result["task_success"] == 1.0
    assert result["valid_tool_call_rate"] == 1.0
    assert result["schema_valid_rate"] == 1.0
    assert result["unknown_tool_rate"] == 0.0
    expected_steps = sum(len(t.expected_calls) + 1 for t in EVAL_TASKS) / 41
    assert result["mean_steps"] == pytest.approx(expected_steps, abs=1e-3)
    assert progress[0] == (0, 41) and progress[-1] == (41, 41) and len(progress) == 42
    assert [e["task_id"] for e in result["transcripts"]] == [t.task_id for t in EVAL_TASKS]
    json.dumps(result)  # plain JSON, no default= needed


def test_all_calls_in_one_turn_and_bare_json_calls_also_work():
    def one_turn(task):
        calls = "\n".join(call_text(n, a) for n, a in task.expected_calls)
        return Scripted([f"Doing it all at once.\n{calls}", task.answers[0]])

    def bare(task):  # no tags at all: the bare JSON form some models emit
        return Scripted(
            [json.dumps({"name": n, "arguments": a}) for n, a in task.expected_calls] + [task.answers[0]]
        )

    tasks = [t for t in EVAL_TASKS if len(t.expected_calls) < 3]  # a dependent 3-call chain needs its results
    for make in (one_turn, bare):
        result = evaluate(by_task(make), [t.task_id for t in tasks], show_progress=False)
        assert result["task_success"] == 1.0, make.__name__
        assert result["valid_tool_call_rate"] == 1.0


def test_wrong_final_answer_fails_and_step_limit_is_respected():
    task = get_task("eval-weather-01")
    wrong = run_episode(Scripted([call_text(*task.expected_calls[0]), task.wrong_answer]), task.task_id)
    assert wrong["stopped"] == "final" and not wrong["success"]

    looping = Scripted([call_text(*task.expected_calls[0])])  # calls forever, never answers
    episode = run_episode(looping, task.task_id, max_steps=3)
    assert episode["stopped"] == "step_limit" and not episode["success"]
    assert episode["steps_taken"] == 3 and len(looping.seen) == 3
    assert episode["final_answer"] is None
    assert evaluate(looping, [task.task_id], max_steps=3, show_progress=False)["mean_steps"] == 3


def test_unknown_tool_is_counted_and_fails_the_task():
    task = get_task("eval-cancel-01")
    policy = Scripted([call_text("cancel_everything", {"booking_id": "BK1016"}), "Done, it is cancelled."])
    result = evaluate(policy, [task.task_id], show_progress=False)
    assert result["task_success"] == 0.0
    assert result["unknown_tool_rate"] == 1.0
    assert result["valid_tool_call_rate"] == 1.0  # well-formed, just not a real tool
    assert result["schema_valid_rate"] is None  # no call to a known tool
    step = result["transcripts"][0]["steps"][0]
    assert step["calls"][0]["known"] is False
    assert step["calls"][0]["result"] == {"error": "unknown tool cancel_everything"}
    # the model saw the error as a tool result
    assert json.loads(policy.seen[1][-1]["content"]) == {"error": "unknown tool cancel_everything"}
    # a real tool of the world that is not offered is unknown too, and is not executed
    offered = [t for t in TOOLS if t["function"]["name"] != "cancel_booking"]
    episode = run_episode(lambda m, t: perfect(task)(m, TOOLS), task.task_id, tools=offered)
    assert episode["counts"]["unknown"] == 1 and episode["reward"] == 0.0 and not episode["success"]


def test_mixed_known_and_unknown_tools_pool_the_rates():
    task = get_task("eval-weather-01")
    name, args = task.expected_calls[0]
    replies = [
        call_text("weather_lookup", args),
        call_text(name, {"city": 3}),
        call_text(name, args),
        task.answers[0],
    ]
    result = evaluate(Scripted(replies), [task.task_id], show_progress=False)
    assert result["counts"]["attempted"] == 3 and result["counts"]["valid"] == 3
    assert result["unknown_tool_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["schema_valid_rate"] == 0.5
    assert result["task_success"] == 1.0  # recovered: the checker decides success
    problems = result["transcripts"][0]["steps"][1]["calls"][0]["schema_problems"]
    assert any("city" in p for p in problems)


@pytest.mark.parametrize(
    "bad",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Berlin"\n</tool_call>',  # broken JSON
        '<tool_call>\n{"arguments": {"city": "Berlin", "date": "2025-07-10"}}\n</tool_call>',  # no name
        '<tool_call>\n{"name": "get_weather", "arguments": "Berlin"}\n</tool_call>',  # arguments not an object
        '<tool_call>\n{"name": "get_weather", "arguments": [1, 2]}\n</tool_call>',
        '<tool_call>\n{"name": "get_weather"}\n</tool_call>',  # arguments missing
        '<tool_call>\n["get_weather", {"city": "Berlin"}]\n</tool_call>',  # not an object
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Ber',  # cut off by the token limit
        '{"name": "get_weather", "arguments": {"city": "Berlin", }}',  # bare, broken
        "<tool_call></tool_call>",
        "<tool_call>",
    ],
)
def test_malformed_calls_are_invalid_and_the_loop_goes_on(bad):
    task = get_task("eval-weather-01")
    policy = Scripted([bad, call_text(*task.expected_calls[0]), task.answers[0]])
    episode = run_episode(policy, task.task_id, max_steps=5)
    assert episode["counts"]["attempted"] == 2 and episode["counts"]["valid"] == 1
    first = episode["steps"][0]
    assert first["error"] and first["calls"][0]["valid"] is False
    assert first["calls"][0]["result"]["error"].startswith("invalid tool call")
    # the raw text went back to the model, then an error result
    assert policy.seen[1][-2] == {"role": "assistant", "content": bad.strip()}
    assert policy.seen[1][-1]["role"] == "tool" and "invalid tool call" in policy.seen[1][-1]["content"]
    assert episode["success"]  # it recovered on the next turn
    result = metrics_of([episode])
    assert result["valid_tool_call_rate"] == 0.5


def test_garbage_and_odd_replies_never_crash():
    garbage = [
        "",
        "   ",
        "}{",
        "<tool_call>\n</tool_call>\n</tool_call>",
        "\x00\ufffd" * 50,
        "<tool_call>" * 5,
        '{"name": {"name": {"name": ',
        "</tool_call>",
        '{"name": null, "arguments": {}}',
        "[" * 5000,
    ]
    for text in garbage:
        episode = run_episode(Scripted([text]), "eval-refund-01", max_steps=2)
        assert not episode["success"]
        json.dumps(episode)


def test_valid_turns_are_stored_in_training_form():
    task = get_task("eval-flight-price-01")
    policy = perfect(task)
    assert run_episode(policy, task.task_id)["success"]
    messages = policy.seen[-1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    call = messages[2]["tool_calls"][0]
    assert messages[2]["content"] == f"I will call {call['function']['name']}."
    assert call["function"] == {"name": task.expected_calls[0][0], "arguments": task.expected_calls[0][1]}
    assert messages[3]["tool_call_id"] == call["id"] and messages[3]["name"] == call["function"]["name"]
    assert "flights" in json.loads(messages[3]["content"])


# ---------------------------------------------------------------------------------------------------------------
# parse_reply.


def test_parse_reply_final_answer():
    assert parse_reply("  It is sunny.  ") == ("It is sunny.", None, "It is sunny.", None)
    assert parse_reply("") == ("", None, "", None)
    # braces that do not start a call are just text
    assert parse_reply('The result was {"temp_c": 21}.')[2] == 'The result was {"temp_c": 21}.'


def test_parse_reply_hermes_blocks():
    text = (
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", "date": "2025-07-10"}}'
        '\n</tool_call>\n<tool_call>\n{"name": "get_order", "arguments": "{\\"order_id\\": \\"O-5001\\"}"}\n'
        "</tool_call>"
    )
    thought, calls, final, error = parse_reply(text)
    assert thought == "Let me check." and final is None and error is None
    assert [(c["name"], c["arguments"]) for c in calls] == [
        ("get_weather", {"city": "Oslo", "date": "2025-07-10"}),
        ("get_order", {"order_id": "O-5001"}),
    ]


def test_parse_reply_unclosed_and_fenced_blocks():
    thought, calls, _, error = parse_reply(
        '<tool_call>\n{"name": "get_order", "arguments": {"order_id": "O-1"}}'
    )
    assert calls[0]["name"] == "get_order" and error is None and thought == ""
    _, calls, _, error = parse_reply(
        '<tool_call>\n```json\n{"name": "a", "arguments": {}}\n```\n</tool_call>'
    )
    assert calls[0]["name"] == "a" and error is None
    _, calls, _, error = parse_reply('<tool_call>{"name": "a", "arguments": {}}<tool_call>{"name": "b"}')
    assert [c["name"] for c in calls] == ["a", "b"] and error == "call 2: arguments missing"


def test_parse_reply_bare_json_and_errors():
    thought, calls, _, error = parse_reply('Sure. {"name": "get_order", "arguments": {"order_id": "O-5001"}}')
    assert thought == "Sure." and calls[0]["arguments"] == {"order_id": "O-5001"} and error is None
    _, calls, _, error = parse_reply('{"name": "get_order", "arguments": {"order_id": "O-5001"')
    assert calls[0]["error"].startswith("not valid JSON") and error.startswith("call 1: not valid JSON")
    _, calls, _, error = parse_reply('<tool_call>\n{"name": "", "arguments": {}}\n</tool_call>')
    assert calls[0]["error"] == "no tool name"
    _, calls, _, error = parse_reply('<tool_call>\n{"name": "x", "arguments": 5}\n</tool_call>')
    assert calls[0]["error"] == "arguments are not a JSON object"


# ---------------------------------------------------------------------------------------------------------------
# compare, cmd_eval and the command line.


def test_compare_sides_progress_and_close():
    class Closing(Scripted):
        closed = 0

        def close(self):
            Closing.closed += 1

    tasks = EVAL_TASKS[:3]
    seen = []
    result = compare(
        Closing(["I don't know."]),
        by_task(perfect),
        [t.task_id for t in tasks],
        progress=lambda d, n: seen.append((d, n)),
        show_progress=False,
    )
    assert result["tasks"] == 3 and result["task_ids"] == [t.task_id for t in tasks]
    assert result["base"]["task_success"] == 0.0 and result["base"]["valid_tool_call_rate"] is None
    assert result["tuned"]["task_success"] == 1.0
    assert seen[-1] == (6, 6) and (3, 6) in seen and Closing.closed == 1
    alone = compare(Closing(["No."]), None, 2, show_progress=False)
    assert alone["tuned"] is None and alone["tasks"] == 2
    for side in (result["base"], result["tuned"]):
        assert set(ev.METRICS) <= set(side)
    assert "task_success" in ev.summary(result) and "newly solved" in ev.summary(result)
    json.dumps(result)


def test_select_tasks_of_any_environment(tmp_path):
    sql = ev.select_tasks(3, "sql")
    assert [t.env.name for t in sql] == ["sql"] * 3 and all(t.split == "eval" for t in sql)
    assert len(ev.select_tasks(None, "sql", split="train")) == 48
    with pytest.raises(TrainerError, match="nope.py: no such file"):
        ev.select_tasks(2, "nope.py:Env")


def test_benchmark_tasks_follow_the_configs_split():
    """A recipe is chosen on the train split (eval_split="train") without touching the held-out tasks."""
    train = ev.benchmark_tasks(None, TrainConfig(eval_env="sql", eval_split="train"))
    held_out = ev.benchmark_tasks(None, TrainConfig(eval_env="sql"))
    assert len(train) == 48 and {t.split for t in train} == {"train"}
    assert {t.split for t in held_out} == {"eval"} and not {t.id for t in train} & {t.id for t in held_out}
    assert [t.id for t in ev.benchmark_tasks(3, TrainConfig(eval_split="train"))] == [
        t.id for t in ev.select_tasks(3, split="train")
    ]
    with pytest.raises(TrainerError, match="eval_split must be one of train, eval; got 'dev'"):
        TrainConfig(eval_split="dev")
    table = {"tasks": 48, "split": "train", "rows": []}
    assert table_lines(table)[0] == "ablation on 48 train tasks"
    assert table_lines({**table, "split": "eval"})[0] == "ablation on 48 held-out tasks"


def test_select_tasks():
    assert len(ev.select_tasks(None)) == 41 and len(ev.select_tasks(5)) == 5
    assert ev.select_tasks(["eval-convert-01"])[0].id == "eval-convert-01"
    with pytest.raises(TrainerError):
        ev.select_tasks(0)
    with pytest.raises(TrainerError):
        ev.select_tasks(["nope"])


def test_cmd_eval_without_adapter_leaves_tuned_null(monkeypatch):
    made = []

    class Fake(Scripted):
        def __init__(self, base=None, adapter=None, **kwargs):
            super().__init__(["No idea."])
            self.generated_tokens, self.generate_s = 0, 0.0
            made.append((base, adapter, kwargs))

    monkeypatch.setattr(ev, "ModelPolicy", Fake)
    monkeypatch.setattr("trainer.base.resolve_base", lambda name: made.append(("resolved", name)))
    args = argparse.Namespace(
        adapter=None, base=None, tasks=2, max_steps=3, max_new_tokens=50, batch_size=4, json=True
    )
    result = ev.cmd_eval(args)
    assert result["tasks"] == 2 and result["tuned"] is None and result["base"]["task_success"] == 0.0
    assert made == [
        ("resolved", None),
        (None, None, {"tokenizer_dir": None, "max_new_tokens": 50, "batch_size": 4}),
    ]
    with pytest.raises(TrainerError, match="--batch-size"):
        ev.cmd_eval(argparse.Namespace(**{**vars(args), "batch_size": 0}))


def test_cli_eval_bad_usage_is_one_line(tmp_path):
    proc = run_cli("eval", "--adapter", str(tmp_path / "missing"), "--tasks", "1")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    (tmp_path / "not-adapter").mkdir()
    proc = run_cli("eval", "--adapter", str(tmp_path / "not-adapter"))
    assert proc.returncode == 1 and "adapter_config.json" in proc.stderr
    assert run_cli("eval", "--tasks", "x").returncode == 2


# ---------------------------------------------------------------------------------------------------------------
# A real model end to end.


@pytest.mark.slow
def test_model_policy_on_tiny_random_model(tiny_base, tmp_path):  # noqa: F811
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainer.base import load_tokenizer
    from trainer.template import use_template

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    peft = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    adapter = tmp_path / "adapter"
    peft.save_pretrained(adapter)
    tokenizer = load_tokenizer(tiny_base)
    use_template(tokenizer)
    tokenizer.save_pretrained(adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_base
    )

    args = argparse.Namespace(
        adapter=str(adapter), base=None, tasks=2, max_steps=2, max_new_tokens=24, json=True
    )
    result = ev.cmd_eval(args)
    assert result["tasks"] == 2
    for side in ("base", "tuned"):
        assert result[side]["counts"]["tasks"] == 2 and result[side]["task_success"] == 0.0
        for episode in result[side]["transcripts"]:
            assert 1 <= episode["steps_taken"] <= 2
            assert all(isinstance(s["raw"], str) for s in episode["steps"])
        assert result[side]["tokens_per_s"]
    json.dumps(result)
    # the adapter changes what is generated (random LoRA weights), the harness renders the same prompts
    raw = {s: result[s]["transcripts"][0]["steps"][0]["raw"] for s in ("base", "tuned")}
    assert raw["base"] != raw["tuned"]

    # a policy handed a loaded model keeps it on close(), and a scripted garbage reply through the same path
    policy = ev.ModelPolicy(model=model, tokenizer=tokenizer, max_new_tokens=8)
    model.train()
    text = policy([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}], TOOLS)
    assert isinstance(text, str) and "<|im_end|>" not in text
    assert model.training  # handed back in the mode it came in
    policy.close()
    assert policy.model is model
