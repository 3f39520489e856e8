"""`benchmarks/loop.py` runs the whole loop end to end with tiny settings: the curated sample set trains round 1,
round 1 samples episodes on train tasks (stored with their checker labels, decided by them), round 2 trains on the
larger export, and base, round 1 and round 2 are evaluated on the same held-out tasks; then round 1 is reused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_benchmark

from curator.store import Store


def loop(*args: str) -> subprocess.CompletedProcess:
    return run_benchmark("loop.py", *args)


@pytest.mark.slow
def test_loop_trains_samples_retrains_and_evaluates_three_rounds(tmp_path, tiny_base):
    tiny = ["--base", str(tiny_base), "--preset", "cpu-smoke", "--max-steps", "1", "--no-bf16"]
    tiny += ["--train-tasks", "2", "--samples", "1", "--max-tokens", "24", "--eval-tasks", "2"]
    done = loop(*tiny, "--out", str(tmp_path / "first"), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert [r["variant"] for r in result["rows"]] == ["base", "round1", "round2"]
    assert result["tasks"] == 2 and len(result["task_ids"]) == 2
    for row in result["rows"]:
        assert 0 <= row["task_success"] <= 1 and row["eval_s"] > 0
    for row in result["rows"][1:]:
        assert row["wall_s"] > 0 and row["peak_rss_mb"] > 100

    g = result["generation"]
    assert g["train_tasks"] == 2 and g["episodes"] == 2 and g["success"] + g["failure"] == 2
    assert g["stored"] == 2 and not g["errors"]
    # every episode stored with its checker's label, and decided by it: successes kept, failures failed
    held = g["stored_by_label"]
    assert held == {
        label: {status: n}
        for label, status, n in (("success", "accepted", g["success"]), ("failure", "failed", g["failure"]))
        if n
    }
    assert g["kept"] == g["success"]
    with Store(Path(result["out"]) / "store.duckdb", read_only=True) as store:
        assert store.scalar("SELECT count(*) FROM generated_episodes WHERE label IS NOT NULL") == 2
    # round 2's export is round 1's plus the new episodes: each failure is a KTO row at least
    one, two = result["exports"]["round1"], result["exports"]["round2"]
    assert two["rows"] > one["rows"]
    assert two["kto"]["train"] + two["kto"]["eval"] >= one["kto"]["train"] + one["kto"]["eval"] + g["failure"]
    assert set(result["phases"]) == {
        "curate",
        "round1_train",
        "generate",
        "curate2",
        "round2_train",
        "evaluate",
    }
    assert json.loads((Path(result["out"]) / "loop.json").read_text()) == result
    assert (Path(result["out"]) / "loop.png").stat().st_size > 1000

    # a later run reuses round 1 and trains round 2 only
    again = loop(
        *tiny, "--round1", str(Path(result["out"]) / "round1"), "--out", str(tmp_path / "again"), "--json"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "other settings" not in again.stderr  # the same settings: no warning
    reused = json.loads(again.stdout)
    assert reused["phases"]["round1_train"]["reused"] == str(Path(result["out"]) / "round1")
    assert not (tmp_path / "again" / "round1").exists()
    assert [r["variant"] for r in reused["rows"]] == ["base", "round1", "round2"]
    assert reused["rows"][1]["wall_s"] is None
