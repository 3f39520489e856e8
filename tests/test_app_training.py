"""The Train tab's logic without a browser: the form's checks, the live curves, and the harness
transcripts shown as step cards (escaped: a model wrote them)."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import datetime

import pytest

from curator.app.training import (
    MORE,
    ablation_frame,
    ablation_phase,
    curves,
    details_html,
    episode_turns,
    job_of,
    metrics_table,
    screen_stamp,
    shown_run,
    stages_label,
    transcripts_html,
)
from curator.store import StoreError
from trainer.presets import PRESETS, TrainConfig


def test_the_form_becomes_a_job_of_a_whole_train_config():
    job = job_of(" ", "cpu-demo", ["dpo", "sft"], "", 10, False)
    assert (job.base, job.preset, job.eval_tasks) == (None, "cpu-demo", 10)
    assert job.config == replace(PRESETS["cpu-demo"], stages=("sft", "dpo"))  # empty boxes: the preset's
    job = job_of(
        "/models/x", "cpu-smoke", ["sft"], "2", 3, True, {"lora_r": "8", "bf16": "false", "seed": ""}
    )
    assert (job.base, job.config.max_steps, job.config.eval_each_epoch) == ("/models/x", 2, 3)
    assert (job.config.lora_r, job.config.bf16, job.config.seed) == (8, False, PRESETS["cpu-smoke"].seed)
    for args, reason in (
        (([], "", 1, False), "stage"),
        ((["sft"], "-1", 1, False), "max_steps"),
        ((["sft"], "two", 1, False), "max_steps"),
        ((["sft"], "", 99, False), "eval tasks"),
        ((["sft"], "", 0, True), "every epoch"),
    ):
        with pytest.raises(StoreError, match=reason):
            job_of("", "cpu-demo", *args)
    with pytest.raises(StoreError, match="lora_r"):
        job_of("", "cpu-demo", ["sft"], "", 1, False, {"lora_r": "big"})


def test_the_ablation_box_makes_a_job_of_variants():
    job = job_of("", "cpu-smoke", [], "1", 2, False, None, True, " sft, sft+kto ")
    assert job.ablate == ("sft", "sft+kto") and job.eval_tasks == 2
    assert job.config.stages == PRESETS["cpu-smoke"].stages  # each variant sets its own
    assert job_of("", "cpu-smoke", ["sft"], "", 2, False, None, False, "sft+dpo").ablate is None
    for (eval_tasks, variants), reason in (((2, "sft+ppo"), "ppo"), ((2, ""), "variants"), ((0, "sft"), "1")):
        with pytest.raises(StoreError, match=reason):
            job_of("", "cpu-smoke", [], "", eval_tasks, False, None, True, variants)


def test_an_ablation_shows_as_one_in_the_runs_list_phase_details_and_table():
    from test_ablate import TABLE

    job = job_of("", "cpu-smoke", [], "", 2, False, None, True, "sft,sft+dpo")
    run = {
        "run_id": 3,
        "created_at": datetime(2026, 1, 1),
        "finished_at": datetime(2026, 1, 1, 0, 2, 5),
        "created_by": "ann",
        "folder": "/r",
        "pid": 1,
        "result": None,
        "error": None,
        "status": "running",
        "stages": "sft,sft+dpo",
        "config": json.dumps(job.to_dict()),
    }
    assert stages_label(run) == "ablation: sft, sft+dpo"
    assert stages_label(
        {**run, "config": json.dumps(job_of("", "cpu-smoke", ["sft"], "", 0, False).to_dict())}
    ) == (
        "sft,sft+dpo"  # a single run: its stages column
    )
    assert "ablation of" in details_html(run) and "sft+dpo" in details_html(run)
    progress = {
        "done": 1,
        "total": 5,
        "now": "training sft+dpo",
        "folder": "/r/sft-dpo",
        "bar": ("progress", 3, 8),
    }
    assert "step 2 of 5: training sft+dpo (training step 3 of 8)" in ablation_phase(run, progress)
    assert "preparing" in ablation_phase(run, None)
    assert "Run 3 · ablation · succeeded" in ablation_phase({**run, "status": "succeeded"}, None)
    frame = ablation_frame(TABLE)
    assert list(frame.columns)[:2] == ["variant", "success"] and frame.iloc[1, 0] == "sft+dpo"


def test_the_form_offers_every_other_setting_of_the_config():
    assert set(MORE) | {"stages", "max_steps", "eval_each_epoch"} == {f.name for f in fields(TrainConfig)} - {
        "extra"
    }


def test_details_show_what_changed_from_the_preset_also_for_old_runs():
    run = {
        "created_at": datetime(2026, 1, 1),
        "created_by": "ann",
        "folder": "/r",
        "pid": 1,
        "result": None,
        "error": None,
    }
    job = job_of("", "cpu-smoke", ["sft"], "3", 0, False, {"lora_r": "8"})
    html = details_html({**run, "config": json.dumps(job.to_dict())})
    assert "lora_r 8" in html and "max_steps 3" in html and "stages sft" in html
    old = {
        "base": None,
        "preset": "cpu-demo",
        "stages": ["sft"],
        "max_steps": None,
        "eval_tasks": 2,
        "eval_each_epoch": None,
    }
    html = details_html({**run, "config": json.dumps(old)})  # a run recorded by an earlier version
    assert "the epochs decide" in html and "stages sft" in html


def test_curves_split_losses_margins_and_epoch_benchmarks():
    loss, margins, epochs = curves(
        [
            {"stage": "sft", "step": 1, "loss": 2.0},
            {"stage": "sft", "step": 2, "epoch": 1.0, "task_success": 0.5},
            {"stage": "dpo", "step": 1, "loss": 0.69, "rewards/margins": 0.1},
        ]
    )
    assert loss.values.tolist() == [[1, 2.0, "sft"], [1, 0.69, "dpo"]]
    assert margins.values.tolist() == [[1, 0.1, "dpo"]]
    assert epochs.values.tolist() == [["sft epoch 1", 0.5, "sft"]]


EPISODE = {
    "task_id": "eval-1",
    "instruction": "Weather <b>now</b>?",
    "success": False,
    "stopped": "final",
    "steps_taken": 2,
    "steps": [
        {
            "step": 0,
            "raw": '<tool_call>{bad</tool_call><tool_call>{"name": "nope"}',
            "thought": "",
            "final": None,
            "error": "call 1: not JSON",
            "calls": [
                {
                    "name": None,
                    "arguments": None,
                    "valid": False,
                    "error": "not JSON",
                    "known": None,
                    "schema_problems": None,
                    "result": {"error": "invalid tool call"},
                },
                {
                    "name": "nope",
                    "arguments": {},
                    "valid": True,
                    "error": None,
                    "known": False,
                    "schema_problems": None,
                    "result": {"error": "unknown tool nope"},
                },
            ],
        },
        {
            "step": 1,
            "raw": "<script>alert(1)</script>",
            "thought": "<script>alert(1)</script>",
            "final": "<script>alert(1)</script>",
            "error": None,
            "calls": [],
        },
    ],
}


def test_a_transcript_becomes_step_cards_with_flags():
    turns, flags = episode_turns(EPISODE)
    assert [t.role for t in turns] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [c.name for c in turns[1].tool_calls] == ["nope"]
    assert turns[4].content == "<script>alert(1)</script>" and turns[4].thought == ""
    assert [(f["check"], f["step"]) for f in flags] == [("invalid_call", 0), ("unknown_tool", 0)]


def test_transcripts_side_by_side_are_escaped():
    evaluation = {
        "tasks": 1,
        "task_ids": ["eval-1"],
        "base": {"transcripts": [EPISODE]},
        "tuned": {"transcripts": [{**EPISODE, "success": True}]},
    }
    html = transcripts_html(evaluation, "eval-1")
    assert "<script>" not in html and "<b>now" not in html
    assert "&lt;script&gt;" in html
    assert "base: failed" in html and "tuned: solved" in html


def test_metrics_table_shows_missing_rates_as_na():
    side = {
        "task_success": 0.5,
        "valid_tool_call_rate": None,
        "unknown_tool_rate": 0.0,
        "schema_valid_rate": 1.0,
        "mean_steps": 2.5,
        "counts": {"tasks": 4, "solved": 2, "attempted": 0, "valid": 0},
    }
    tuned = {
        **side,
        "task_success": 0.75,
        "valid_tool_call_rate": 0.75,
        "counts": {"tasks": 4, "solved": 3, "attempted": 8, "valid": 6},
    }
    table = metrics_table({"base": side, "tuned": tuned}).values.tolist()
    assert table[0] == ["task success", "50%", "75%"]
    assert table[1] == ["valid tool call rate", "n/a", "75%"] and table[4][1] == "2.50"
    # the counts behind the rates: "n/a" is a side that attempted no call
    assert table[5:] == [["tasks solved", "2 of 4", "3 of 4"], ["tool calls valid", "0 of 0", "6 of 8"]]


def test_the_screen_stamp_changes_only_when_something_shown_would(tmp_path):
    """A poll redraws nothing while the stamp stays the same: a run's folder that did not grow, the same
    runs with the same statuses."""
    runs = [{"run_id": 2, "status": "running", "folder": str(tmp_path)}, {"run_id": 1, "status": "failed"}]
    assert shown_run(runs, None)["run_id"] == 2 and shown_run(runs, 1)["run_id"] == 1
    (tmp_path / "log.txt").write_text("sft: training on 8 rows\n")
    stamp = screen_stamp(runs, runs[0])
    assert screen_stamp(runs, runs[0]) == stamp
    with open(tmp_path / "log.txt", "a") as log:
        log.write(" 50%|█████     | 2/4 [00:10<00:10,  5.00s/it]")
    assert screen_stamp(runs, runs[0]) != stamp
    finished = [{**runs[0], "status": "succeeded"}, runs[1]]
    assert screen_stamp(finished, finished[0])["runs"] != screen_stamp(runs, runs[0])["runs"]
