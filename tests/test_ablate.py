"""`curator train --ablate`: the variants trained from one export, each in its own process, and every variant and
the base evaluated on the same held-out tasks, as one table (`--json`)."""

from __future__ import annotations

import json

import pytest
from conftest import cli_json
from conftest_trainer import write_export

from trainer.ablate import parse_variants
from trainer.errors import TrainerError


def test_variants_parse_and_bad_ones_are_one_line():
    assert parse_variants("sft,sft+dpo,sft+kto") == {
        "sft": ("sft",),
        "sft+dpo": ("sft", "dpo"),
        "sft+kto": ("sft", "kto"),
    }
    with pytest.raises(TrainerError, match="--ablate sft,sft\\+ppo"):
        parse_variants("sft,sft+ppo")


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
