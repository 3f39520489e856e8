"""`curator train --ablate`: the variants trained from one export, each in its own process, and every variant and
the base evaluated on the same held-out tasks, as one table (`--json`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import cli_json
from conftest_trainer import write_export

from trainer.ablate import HEAD, figure, parse_variants, table_lines, table_rows
from trainer.errors import TrainerError
from trainer.presets import PRESETS
from trainer.runfolder import Job

TABLE = {
    "tasks": 2,
    "split": "eval",
    "task_ids": ["t1", "t2"],
    "rows": [
        {
            "variant": "base",
            "task_success": 0.0,
            "valid_tool_call_rate": 0.5,
            "unknown_tool_rate": None,
            "schema_valid_rate": 1.0,
            "mean_steps": 3.5,
            "wall_s": None,
            "peak_rss_mb": None,
            "eval_s": 1.2,
            "adapter": None,
        },
        {
            "variant": "sft+dpo",
            "task_success": 0.5,
            "valid_tool_call_rate": 1.0,
            "unknown_tool_rate": 0.25,
            "schema_valid_rate": 1.0,
            "mean_steps": 2.0,
            "wall_s": 12.3,
            "peak_rss_mb": 900,
            "eval_s": 1.1,
            "adapter": "/r/sft-dpo/train/dpo/adapter",
        },
    ],
}


def test_variants_parse_and_bad_ones_are_one_line():
    assert parse_variants("sft,sft+dpo,sft+kto") == {
        "sft": ("sft",),
        "sft+dpo": ("sft", "dpo"),
        "sft+kto": ("sft", "kto"),
    }
    with pytest.raises(TrainerError, match="--ablate sft,sft\\+ppo"):
        parse_variants("sft,sft+ppo")


def test_an_ablation_job_round_trips_and_a_plain_one_stays_plain(tmp_path):
    job = Job(PRESETS["cpu-smoke"], base="/b", preset="cpu-smoke", eval_tasks=2, ablate=("sft", "sft+dpo"))
    job.write(tmp_path)
    assert Job.read(tmp_path) == job and job.variants == "sft,sft+dpo"
    Job(PRESETS["cpu-smoke"], eval_tasks=0).write(tmp_path)
    assert Job.read(tmp_path).ablate is None and Job.read(tmp_path).variants is None


def test_the_table_rows_are_the_text_table_and_the_chart_groups_three_rates_per_variant():
    assert table_rows(TABLE) == [
        ["base", "0%", "50%", "-", "100%", "3.5", "-", "-"],
        ["sft+dpo", "50%", "100%", "25%", "100%", "2.0", "12.3", "900"],
    ]
    assert table_lines(TABLE) == [
        "ablation on 2 held-out tasks",
        " | ".join(HEAD),
        "base | 0% | 50% | - | 100% | 3.5 | - | -",
        "sft+dpo | 50% | 100% | 25% | 100% | 2.0 | 12.3 | 900",
    ]
    ax = figure(TABLE).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["base", "sft+dpo"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "task success",
        "valid calls",
        "unknown tool",
    ]
    heights = sorted(round(b.get_height(), 2) for b in ax.patches)
    assert heights == [0.0, 0.0, 0.25, 0.5, 0.5, 1.0]
    assert [t.get_text() for t in ax.texts] == ["n/a"]  # the base's unknown-tool rate: no denominator


def test_the_app_follows_an_ablation_by_its_progress_file(tmp_path):
    from curator.runs import ablation_progress, read_ablation

    assert ablation_progress(tmp_path) is None and read_ablation(tmp_path) is None
    variant = tmp_path / "sft"
    variant.mkdir()
    (variant / "log.txt").write_text(
        "sft: training on 4 rows\n 50%|#####     | 1/2 [00:03<00:03,  3.0s/it]\n"
    )
    (tmp_path / "progress.json").write_text(
        json.dumps({"done": 0, "total": 3, "now": "training sft", "folder": str(variant)})
    )
    progress = ablation_progress(tmp_path)
    assert (progress["done"], progress["now"], progress["bar"]) == (0, "training sft", ("progress", 1, 2))
    (tmp_path / "ablation.json").write_text(json.dumps(TABLE))
    assert read_ablation(tmp_path) == TABLE


@pytest.mark.slow
def test_ablation_trains_each_variant_and_evaluates_all_on_the_same_tasks(tmp_path, tiny_base, db):
    export = write_export(tmp_path / "export")
    out = tmp_path / "ablation"
    table = cli_json(
        "train", "--data", str(export), "--out", str(out), "--base", str(tiny_base),
        "--ablate", "sft+dpo,sft+kto", "--eval-tasks", "2", "--max-steps", "1", "--batch-size", "2",
        "--no-bf16", "--no-qlora", db=db,
    )  # fmt: skip
    assert [r["variant"] for r in table["rows"]] == ["base", "sft+dpo", "sft+kto"]
    assert table["tasks"] == 2 and len(table["task_ids"]) == 2
    for row in table["rows"]:
        assert 0 <= row["task_success"] <= 1 and row["eval_s"] > 0
    for row in table["rows"][1:]:
        assert row["wall_s"] > 0 and row["peak_rss_mb"] > 100
    assert (out / "sft-dpo" / "train" / "dpo" / "adapter" / "adapter_config.json").is_file()
    assert (
        out / "sft-kto" / "train" / "kto" / "adapter" / "adapter_config.json"
    ).is_file()  # KTO: whole batches
    assert json.loads((out / "ablation.json").read_text()) == table


def test_a_jobs_peak_memory_is_its_own_not_its_parents_at_the_fork():
    """A child's `ru_maxrss` counts the parent's size at the fork (the loop's 9 GB driver made its round-2
    training read 9 GB); `trainer.job.peak_rss_mb` reads the job's own high-water mark."""
    held = bytearray(1536 * 2**20)
    held[::4096] = b"\1" * len(held[::4096])  # resident, not just reserved
    code = "from trainer.job import peak_rss_mb; print(peak_rss_mb())"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert usage.ru_maxrss // 1024 >= 1536  # what the job would have been charged
    assert 50 < int(out) < 1200, out
    del held
