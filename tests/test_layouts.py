"""`curator export --for llamafactory|axolotl` (issue 15.3): each layout checked, field by field,
against the rules of the target's own loader (neither package installs beside transformers 5
here: LLaMA-Factory's SharegptDatasetConverter and dataset_info.json, Axolotl's chat_template
and DPO chat_template.default strategies), on the sample set and on the real public files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import SAMPLE, cli_json, run_cli

from curator.layouts import (
    TRAINING,
    Unalignable,
    axolotl_dpo,
    axolotl_sft,
    llamafactory_dpo,
    llamafactory_kto,
    llamafactory_sft,
)


def call(name: str, args: str, cid: str = "c1") -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Weather in Rome and Oslo?"}
PARALLEL = {
    "role": "assistant",
    "content": "Both cities at once.",
    "tool_calls": [call("w", '{"city": "Rome"}'), call("w", '{"city": "Oslo"}', "c2")],
}
RESULTS = [
    {"role": "tool", "content": "18 C", "tool_call_id": "c1", "name": "w"},
    {"role": "tool", "content": "4 C", "tool_call_id": "c2", "name": "w"},
]
FINAL = {"role": "assistant", "content": "Rome 18 C, Oslo 4 C."}
TOOLS = json.dumps([{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}])


def sft_row(messages: list[dict]) -> dict:
    return {"messages": messages, "tools": TOOLS, "row_id": "sft-1.1", "task_key": "t"}


# -- the target loaders' rules, as documented and as their code applies them ------------------

THINK = re.compile(r"<think>\n(.*?)\n</think>\n\n", re.DOTALL)


def llamafactory_rules(example: dict, attr: dict) -> None:
    """SharegptDatasetConverter: positions alternate human/observation and gpt/function_call;
    an odd count for a ranking prompt, even otherwise; chosen/rejected are answer-side turns;
    a function_call value is JSON (`name`, `arguments`) once a <think> block is taken off."""
    tags, columns = attr["tags"], attr["columns"]
    turns = example[columns["messages"]]
    for i, turn in enumerate(turns):
        accept = (
            (tags["user_tag"], tags["observation_tag"])
            if i % 2 == 0
            else (tags["assistant_tag"], tags["function_tag"])
        )
        assert turn[tags["role_tag"]] in accept, (i, turn)
    ranking = attr.get("ranking", False)
    assert len(turns) % 2 == (1 if ranking else 0), len(turns)
    answers = [t for t in turns if t["from"] in ("gpt", "function_call")]
    if ranking:
        answers += [example[columns["chosen"]], example[columns["rejected"]]]
        assert example["chosen"]["from"] in ("gpt", "function_call")
    if "kto_tag" in columns:
        assert isinstance(example[columns["kto_tag"]], bool)
    for turn in answers:
        if turn["from"] == "function_call":
            parsed = json.loads(THINK.sub("", turn["value"], count=1))
            for one in parsed if isinstance(parsed, list) else [parsed]:
                assert set(one) == {"name", "arguments"} and one["name"], one
    assert isinstance(example[columns["system"]], str)
    for spec in json.loads(example[columns["tools"]] or "[]"):
        assert spec["name"] and "type" not in spec, spec


def axolotl_sft_rules(example: dict) -> None:
    """chat_template with message_field_training: every message has its flag, a trained turn is
    an assistant turn, tool-call arguments json.loads, tools is a list with parameters that parse."""
    messages = example["messages"]
    assert any(m[TRAINING] for m in messages)
    for m in messages:
        assert isinstance(m[TRAINING], bool) and (not m[TRAINING] or m["role"] == "assistant")
        assert m["role"] in ("system", "user", "assistant", "tool")
        for c in m.get("tool_calls") or []:
            assert isinstance(json.loads(c["function"]["arguments"]), dict)
    assert isinstance(example["tools"], list)
    for tool in example["tools"]:
        assert isinstance(json.loads(tool["function"]["parameters"]), dict)


def axolotl_dpo_rules(example: dict, roles: dict) -> None:
    """chat_template.default reads role and content only, maps every role through `roles`, and
    finds each completion by its text (so it must not be empty)."""
    known = {source for sources in roles.values() for source in sources}
    for m in example["messages"]:
        assert m["role"] in known and isinstance(m["content"], str), m
    for side in ("chosen", "rejected"):
        assert example[side]["role"] == "assistant" and example[side]["content"].strip()


# -- the pure conversions ---------------------------------------------------------------------


def test_llamafactory_parallel_calls_keep_thought_and_merge_results():
    row = llamafactory_sft(sft_row([SYSTEM, USER, PARALLEL, *RESULTS, FINAL]))
    assert [t["from"] for t in row["conversations"]] == ["human", "function_call", "observation", "gpt"]
    value = row["conversations"][1]["value"]
    assert value.startswith("<think>\nBoth cities at once.\n</think>\n\n")  # not lost (LLaMA-Factory #9107)
    assert [c["arguments"]["city"] for c in json.loads(THINK.sub("", value))] == ["Rome", "Oslo"]
    assert row["conversations"][2]["value"] == "18 C\n</tool_response>\n<tool_response>\n4 C"
    assert row["system"] == "Be brief." and json.loads(row["tools"]) == [
        {"name": "w", "parameters": {"type": "object"}}
    ]


def test_llamafactory_drops_an_untrained_tail_and_refuses_what_it_cannot_align():
    ends_on_result = llamafactory_sft(sft_row([USER, PARALLEL, *RESULTS]))
    assert [t["from"] for t in ends_on_result["conversations"]] == ["human", "function_call"]
    with pytest.raises(Unalignable, match="turn 2 is gpt"):
        llamafactory_sft(sft_row([USER, FINAL, FINAL]))
    with pytest.raises(Unalignable, match="turn 3 is human"):
        llamafactory_sft(sft_row([USER, PARALLEL, *RESULTS, USER, FINAL]))
    follow_up = {"role": "user", "content": "And Paris?"}
    merged = llamafactory_sft(sft_row([USER, follow_up, FINAL]))["conversations"]
    assert merged[0] == {"from": "human", "value": "Weather in Rome and Oslo?\n\nAnd Paris?"}


def test_prefix_salvage_cuts_for_llamafactory_and_flags_for_axolotl():
    bad = {**FINAL, "content": "Rome 30 C.", TRAINING: False}
    messages = [USER, {**PARALLEL, TRAINING: True}, *RESULTS, bad]
    cut = llamafactory_sft(sft_row(messages))
    assert [t["from"] for t in cut["conversations"]] == ["human", "function_call"]
    flags = [m[TRAINING] for m in axolotl_sft(sft_row(messages))["messages"]]
    assert flags == [False, True, False, False, False]
    with pytest.raises(Unalignable, match="not a prefix"):
        llamafactory_sft(sft_row([USER, {**PARALLEL, TRAINING: False}, *RESULTS, FINAL]))


def test_pairs_and_failures_for_both_trainers():
    malformed = {"role": "assistant", "content": "", "tool_calls": [call("w", '{"city": "Rome"')]}
    pair = {"prompt": [SYSTEM, USER], "chosen": [PARALLEL], "rejected": [malformed], "tools": TOOLS}
    lf = llamafactory_dpo(pair)
    assert [t["from"] for t in lf["conversations"]] == ["human"]
    assert json.loads(lf["rejected"]["value"])["arguments"] == '{"city": "Rome"'  # as written
    ax = axolotl_dpo(pair)
    assert (
        ax["rejected"]["content"] == '<tool_call>\n{"name": "w", "arguments": {"city": "Rome"}\n</tool_call>'
    )
    assert ax["chosen"]["content"].startswith("Both cities at once.\n<tool_call>\n")
    kto = llamafactory_kto(
        {"prompt": [USER], "completion": [malformed], "label": False, "tags": ["x"], "tools": None}
    )
    assert kto["kto_tag"] is False and [t["from"] for t in kto["conversations"]] == ["human", "function_call"]
    with pytest.raises(Unalignable, match="not a JSON object"):
        axolotl_sft(sft_row([USER, malformed, RESULTS[0], FINAL]))


# -- whole exports ----------------------------------------------------------------------------


def check_llamafactory(folder: Path, result: dict) -> int:
    from datasets import load_dataset

    info = json.loads((folder / "dataset_info.json").read_text())
    assert set(info) == {
        f"curator_{kind}" + ("" if split == "train" else "_eval")
        for kind in ("sft", "dpo", "kto")
        for split in ("train", "eval")
        if result[kind][split]
    }
    assert all(attr.get("ranking", False) == name.startswith("curator_dpo") for name, attr in info.items())
    rows = 0
    for attr in info.values():
        data = load_dataset("json", data_files=str(folder / attr["file_name"]), split="train")
        for example in data:
            llamafactory_rules(example, attr)
        rows += len(data)
    return rows


def check_axolotl(folder: Path, result: dict) -> int:
    from datasets import load_dataset

    assert not (folder / "kto").exists()
    rows = 0
    for kind, rules in (("sft", axolotl_sft_rules), ("dpo", None)):
        if not result[kind]["train"]:
            assert not (folder / f"axolotl_{kind}.yml").exists()
            continue
        config = yaml.safe_load((folder / f"axolotl_{kind}.yml").read_text())
        assert config.get("rl") == ("dpo" if kind == "dpo" else None)
        for ds in config["datasets"] + config.get("test_datasets", []):
            assert ds["ds_type"] == "json"
            data = load_dataset("json", data_files=str(folder / ds["path"]), split="train")
            for example in data:
                if kind == "sft":
                    assert ds["type"] == "chat_template" and ds["message_field_training"] == TRAINING
                    rules(_without_nulls(example))
                else:
                    assert ds["type"] == "chat_template.default"
                    axolotl_dpo_rules(example, ds["roles"])
            rows += len(data)
    return rows


def _without_nulls(value):
    """What Axolotl's remove_none_values leaves of a row `datasets` padded with nulls."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _curated(db, *paths) -> None:
    """Imported (files of a family this curator cannot read yet are reported and passed over),
    then decided by the sources' own labels."""
    result = json.loads(run_cli("import", *map(str, paths), "--json", db=db).stdout)
    assert result["imported"] > 0, result
    cli_json("bulk", "accept", "--source-label", "success", db=db)
    cli_json("bulk", "fail", "--source-label", "failure", db=db)


@pytest.mark.slow
def test_sample_set_exports_for_both_trainers(db, tmp_path):
    _curated(db, SAMPLE)
    steps = ("--salvage-prefixes", "--prm")  # prefix rows carry training flags; prm/ stays TRL's
    trl = cli_json("export", "--out", str(tmp_path / "trl"), *steps, db=db)
    for target, check in (("llamafactory", check_llamafactory), ("axolotl", check_axolotl)):
        out = tmp_path / target
        result = cli_json("export", "--out", str(out), "--for", target, *steps, db=db)
        assert result["for"] == target and result["left_out"] <= 2  # axolotl: 2 unparsable calls
        assert result["dpo"] == trl["dpo"] and result["prm"] == trl["prm"]
        assert (out / "prm" / "train.jsonl").read_bytes() == (
            tmp_path / "trl" / "prm" / "train.jsonl"
        ).read_bytes()
        kinds = ("sft", "dpo", "kto") if target == "llamafactory" else ("sft", "dpo")
        assert check(out, result) == sum(sum(result[k].values()) for k in kinds)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["layout"]["for"] == target and manifest["layout"]["trl_counts"]["kto"] == trl["kto"]
        assert set(manifest["files"]) == {p.relative_to(out).as_posix() for p in out.rglob("*.*")} - {
            "manifest.json",
            "README.md",
        }


@pytest.mark.slow
def test_real_files_export_for_both_trainers(db, tmp_path, realdata):
    files = [p for p in sorted(realdata.iterdir()) if p.suffix in (".json", ".jsonl", ".traj")]
    _curated(db, *files)
    cli_json("bulk", "accept", db=db)  # unlabelled sources: accepted, so every family reaches SFT
    for target, check in (("llamafactory", check_llamafactory), ("axolotl", check_axolotl)):
        out = tmp_path / target
        result = cli_json("export", "--out", str(out), "--for", target, db=db)
        assert check(out, result) > 0
        manifest = json.loads((out / "manifest.json").read_text())
        left = manifest["layout"]["left_out"]
        assert len(left) == result["left_out"] <= 0.05 * sum(result["sft"].values()), left[:5]
        assert all(entry["reason"] for entry in left)


def test_other_layouts_write_json_lines_only(db, tmp_path):
    proc = run_cli("export", "--out", str(tmp_path / "x"), "--for", "axolotl", "--format", "parquet", db=db)
    assert proc.returncode == 2 and "writes JSON Lines" in proc.stderr
