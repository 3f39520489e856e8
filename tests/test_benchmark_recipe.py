"""`benchmarks/recipe.py`: each `--try` is the preset with its settings changed, trained SFT then DPO on one export
and benchmarked with the base on the same *train* tasks (never the held-out ones)."""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import run_benchmark

from trainer.evaluate import select_tasks


def test_a_change_parses_as_the_cli_flags_do():
    from recipe import parse_change

    assert parse_change("as-is:") == ("as-is", {})
    assert parse_change("lr:sft_lr=1e-3, epochs=2") == ("lr", {"sft_lr": 0.001, "epochs": 2.0})
    assert parse_change("rpo:dpo_loss=sigmoid,sft;dpo_loss_weights=1,0.2") == (
        "rpo",
        {"dpo_loss": ("sigmoid", "sft"), "dpo_loss_weights": (1.0, 0.2)},
    )
    for bad, says in (("x:learning=1", "'learning=1'"), ("x:epochs=many", "epochs"), (":epochs=2", "NAME")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            parse_change(bad)


@pytest.mark.slow
def test_each_change_trains_and_is_benchmarked_on_train_tasks(tmp_path, tiny_base):
    done = run_benchmark(
        "recipe.py",
        *("--base", str(tiny_base), "--preset", "cpu-smoke", "--eval-tasks", "2", "--out", str(tmp_path)),
        *("--try", "a:max_steps=1,bf16=false", "--try", "b:max_steps=1,bf16=false,sft_lr=1e-3"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads((tmp_path / "recipe.json").read_text())
    assert [r["variant"] for r in table["rows"]] == ["base", "a", "b"]
    assert table["split"] == "train" and table["tasks"] == 2
    assert table["task_ids"] == [t.id for t in select_tasks(2, split="train")]
    assert not set(table["task_ids"]) & {t.id for t in select_tasks(None, split="eval")}
    assert table["rows"][2]["changes"] == {"max_steps": 1, "bf16": False, "sft_lr": 0.001}
    for name, lr in (("a", 5e-4), ("b", 1e-3)):  # cpu-smoke's own SFT rate, then the change's
        job = json.loads((tmp_path / "runs" / name / "job.json").read_text())
        assert job["config"]["sft_lr"] == lr and job["config"]["stages"] == ["sft", "dpo"]
        assert (tmp_path / "runs" / name / "train" / "dpo" / "adapter").is_dir()
    assert (tmp_path / "recipe.png").stat().st_size > 5000
    assert "recipe changes over cpu-smoke" in done.stdout


def test_a_bad_search_stops_with_one_line(tmp_path):
    twice = run_benchmark(
        "recipe.py", "--try", "a:", "--try", "a:sft_lr=1e-3", "--out", str(tmp_path / "one")
    )
    assert twice.returncode == 2 and "every change needs its own name" in twice.stderr
    bad = run_benchmark("recipe.py", "--try", "none:lora_layers=0", "--out", str(tmp_path / "two"))
    assert bad.returncode == 1, bad.stderr[-2000:]
    assert bad.stderr.strip().splitlines()[-1] == "error: lora_layers must be at least 1, or unset; got 0"
    assert not (tmp_path / "two" / "runs").exists()  # nothing trained
    again = run_benchmark("recipe.py", "--try", "a:", "--out", str(tmp_path / "two"))
    assert again.returncode == 2 and "holds an earlier search" in again.stderr
