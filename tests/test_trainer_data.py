"""Data path of the trainer: export rows -> template -> token ids and assistant-only labels -> pre-flight."""

from __future__ import annotations

import json

import pytest
from conftest_trainer import dpo_row, sft_row, write_export, write_jsonl

from trainer.data import Row, dpo_example, load_rows, messages_of, sft_example
from trainer.errors import TrainerError
from trainer.preflight import check_sft_row, prepare, trained_spans


def test_trained_tokens_are_exactly_the_assistant_turns(tokenizer):
    row = Row("x:1", sft_row(0, "Paris"))
    example = prepare(tokenizer, "sft", [row], 2048, show=0)[0]
    assert trained_spans(tokenizer, example) == [
        (
            'I will look up the weather in Paris.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
            "\n</tool_call><|im_end|>"
        ),
        "It is 10 degrees Celsius in Paris.<|im_end|>",
    ]
    text = tokenizer.decode(example["input_ids"])
    assert (
        "<tool_response>" in text and '"get_weather"' in text.split("<|im_start|>user")[0]
    )  # tools in system


def test_none_padded_messages_and_string_arguments_render_like_clean_ones(tokenizer):
    clean = sft_row(0, "Paris")
    padded = json.loads(json.dumps(clean))
    for message in padded["messages"]:  # what datasets/Parquet make of mixed message shapes
        for key in ("tool_calls", "tool_call_id", "name"):
            message.setdefault(key, None)
    a = prepare(tokenizer, "sft", [Row("a", clean)], 2048, show=0)[0]
    b = prepare(tokenizer, "sft", [Row("b", padded)], 2048, show=0)[0]
    assert a == b


def test_dpo_completion_is_one_turn_ending_with_a_single_end_of_turn(tokenizer):
    example = dpo_example(tokenizer, Row("x:1", dpo_row("Oslo")))
    assert example["prompt"].endswith("<|im_start|>assistant\n")
    assert example["chosen"].endswith("</tool_call><|im_end|>") and example["chosen"].count("<|im_end|>") == 1
    assert '"search_web"' in example["rejected"] and "<tool_response>" not in example["rejected"]


def test_row_without_assistant_turn_stops_the_run(tokenizer):
    row = Row("sft/train.jsonl:3", {"messages": [{"role": "user", "content": "hi"}], "tools": "[]"})
    with pytest.raises(TrainerError, match=r"sft/train.jsonl:3: row trains nothing"):
        prepare(tokenizer, "sft", [row], 2048)


def test_template_that_trains_tool_results_is_caught(tokenizer):
    leaky = tokenizer.chat_template.replace(
        "{{- '<|im_start|>tool\\n<tool_response>\\n' + (message.content or '') + '\\n</tool_response><|im_end|>\\n' }}",
        "{%- generation %}{{- '<|im_start|>tool\\n' + (message.content or '') + '<|im_end|>\\n' }}{%- endgeneration %}",
    )
    assert leaky != tokenizer.chat_template
    row = Row("r:1", sft_row(0, "Paris"))
    original = tokenizer.chat_template
    tokenizer.chat_template = leaky
    try:
        with pytest.raises(TrainerError, match="loss falls on tool text"):
            check_sft_row(tokenizer, row, sft_example(tokenizer, row))
    finally:
        tokenizer.chat_template = original


def test_long_rows_are_reported_and_left_out_not_cut(tokenizer):
    rows = [Row("short:1", sft_row(0, "Rome")), Row("long:2", sft_row(1, "Rome " * 400))]
    said = []
    kept = prepare(tokenizer, "sft", rows, 600, show=0, say=said.append)
    assert kept == [sft_example(tokenizer, rows[0])]
    assert any("long:2" in line and "left out" in line for line in said)
    with pytest.raises(TrainerError, match="every row is longer"):
        prepare(tokenizer, "sft", rows[1:], 600, say=said.append)


def test_malformed_arguments_render_verbatim_and_a_nameless_call_names_the_row(tokenizer):
    row = sft_row(0, "Paris")
    row["messages"][2]["tool_calls"][0]["function"]["arguments"] = "{city: Paris"
    call = messages_of(Row("x:7", row), "messages")[2]["tool_calls"][0]["function"]
    assert call["arguments"] == "{city: Paris"
    text = tokenizer.apply_chat_template(messages_of(Row("x:7", row), "messages"), tokenize=False)
    assert '"arguments": {city: Paris}' in text
    del row["messages"][2]["tool_calls"][0]["function"]["name"]
    with pytest.raises(TrainerError, match=r"^x:7: tool call needs a name"):
        messages_of(Row("x:7", row), "messages")


def test_jsonl_parquet_and_saved_dataset_exports_give_the_same_rows(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [sft_row(i, c) for i, c in enumerate(["Paris", "Rome"])]
    write_jsonl(tmp_path / "j" / "sft" / "train.jsonl", rows)
    Dataset.from_list(rows).to_parquet(str(tmp_path / "p" / "sft" / "train.parquet"))
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "h" / "sft"))
    loaded = [[messages_of(r, "messages") for r in load_rows(tmp_path / d, "sft", "train")] for d in "jph"]
    assert loaded[0] == loaded[1] == loaded[2] and len(loaded[0]) == 2
    assert load_rows(tmp_path / "j", "dpo", "train") == []


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (
            ["run", "--data", "{tmp}/missing", "--out", "{tmp}/o"],
            1,
            "error: data folder {tmp}/missing does not exist",
        ),
        (["run", "--data", "{tmp}/empty", "--out", "{tmp}/o"], 1, "holds no training rows"),
        (
            ["run", "--data", "{tmp}/x", "--out", "{tmp}/o", "--preset", "nope"],
            1,
            "error: unknown preset 'nope'",
        ),
        (
            ["run", "--data", "{tmp}/x", "--out", "{tmp}/o", "--base", "{tmp}/x"],
            1,
            "folder has no config.json",
        ),
        (["run", "--data", "{tmp}/x", "--out", "{tmp}/o", "--stages", "sft,ppo"], 2, "stages must be"),
        (["merge", "--adapter", "{tmp}/x", "--out", "{tmp}/o"], 1, "is not an adapter folder"),
    ],
)
def test_bad_input_gives_one_line(tmp_path, capsys, argv, code, message):
    from trainer.cli import main

    write_export(tmp_path / "x", n_train=2, kinds=("sft",))
    (tmp_path / "empty" / "sft").mkdir(parents=True)
    (tmp_path / "empty" / "sft" / "train.jsonl").write_text("")
    with pytest.raises(SystemExit) if code == 2 else _nothing() as exit_info:
        assert main([a.format(tmp=tmp_path) for a in argv]) == code
    if code == 2:
        assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message.format(tmp=tmp_path) in err[-1] and "Traceback" not in "".join(err)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_compact_tools_list_one_line_per_tool_and_train_the_same_text(smol_path):
    from trainer.base import load_tokenizer
    from trainer.template import use_template

    full, compact = load_tokenizer(smol_path), load_tokenizer(smol_path)
    use_template(full)
    use_template(compact, compact_tools=True)
    row = Row("x:1", sft_row(0, "Paris"))
    text = compact.apply_chat_template(
        messages_of(row, "messages"), tools=json.loads(row.data["tools"]), tokenize=False
    )
    assert "get_weather(city: string) - Current weather of a city." in text
    assert "search_web(query?: string, limit?: integer) - Search the web." in text  # none required
    assert '"properties"' not in text
    a, b = sft_example(full, row), sft_example(compact, row)
    assert len(b["input_ids"]) < len(a["input_ids"])
    assert trained_spans(compact, b) == trained_spans(full, a)
