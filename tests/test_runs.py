"""Training runs started the app's way: export, a separate job process, the outcome in the store;
cancel ends the whole process tree; a job that died is shown as failed with its last log lines."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace

import pytest

from curator.follow import metrics as read_metrics
from curator.runs import (
    RunError,
    ablation_progress,
    cancel_run,
    list_runs,
    read_ablation,
    refresh,
    start_run,
)
from curator.store import Store
from trainer.presets import PRESETS
from trainer.runfolder import Job

pytestmark = pytest.mark.slow


def wait_until_finished(store: Store, run_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = next(r for r in list_runs(store) if r["run_id"] == run_id)
        if run["status"] != "running":
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


def test_a_run_trains_evaluates_and_is_recorded(curated, tiny_base, tmp_path):
    with Store(curated) as store:
        config = Job(
            replace(PRESETS["cpu-smoke"], max_steps=2, eval_each_epoch=1, eval_env="sql"),
            base=str(tiny_base),
            preset="cpu-smoke",
            eval_tasks=1,
        )
        run_id = start_run(store, config, user="ann", root=tmp_path / "runs")
        with pytest.raises(RunError, match="still running"):
            start_run(store, config, user="bob", root=tmp_path / "runs")
        run = wait_until_finished(store, run_id, timeout=400)
        assert run["status"] == "succeeded", run["error"]
        result = json.loads(run["result"])
        assert set(result["stages"]) == {"sft", "dpo"}
        assert result["stages"]["sft"]["steps"] == 2
        evaluation = json.loads(run["evaluation"])
        assert evaluation["tasks"] == 1 and evaluation["env"] == "sql"
        assert evaluation["task_ids"] == ["eval-customers-country-01"]
        assert set(evaluation["base"]) >= {"task_success", "valid_tool_call_rate"}
        assert "transcripts" not in evaluation["tuned"]
        metrics = read_metrics(run["folder"])
        assert {m["stage"] for m in metrics if "loss" in m} == {"sft", "dpo"}
        benchmarks = [m for m in metrics if "task_success" in m]
        assert benchmarks, "no per-epoch benchmark record"
        assert benchmarks[0]["benchmark_env"] == "sql" and benchmarks[0]["benchmark_tasks"] == 1


def test_an_ablation_run_trains_each_variant_and_keeps_its_table(curated, tiny_base, tmp_path):
    with Store(curated) as store:
        job = Job(
            replace(PRESETS["cpu-smoke"], max_steps=1, eval_env="sql"),
            base=str(tiny_base),
            preset="cpu-smoke",
            eval_tasks=1,
            ablate=("sft",),
        )
        run_id = start_run(store, job, user="ann", root=tmp_path / "runs")
        run = wait_until_finished(store, run_id, timeout=900)  # three processes start the model: minutes
        assert run["status"] == "succeeded", run["error"]
        assert run["stages"] == "sft" and Job.from_dict(json.loads(run["config"])).ablate == ("sft",)
        table = read_ablation(run["folder"])
        assert json.loads(run["result"]) == table
        assert [r["variant"] for r in table["rows"]] == ["base", "sft"] and table["tasks"] == 1
        assert table["rows"][1]["wall_s"] > 0 and table["rows"][1]["adapter"].startswith(run["folder"])
        assert ablation_progress(run["folder"])["now"] == "done"


def test_cancel_ends_the_process_tree_and_marks_the_run(curated, tmp_path):
    with Store(curated) as store:
        run_id = start_run(
            store, Job(PRESETS["cpu-demo"], preset="cpu-demo"), user="ann", root=tmp_path / "runs"
        )
        pid = store.scalar("SELECT pid FROM runs WHERE run_id = ?", [run_id])
        time.sleep(2)
        cancel_run(store, run_id)
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
        assert store.scalar("SELECT status FROM runs WHERE run_id = ?", [run_id]) == "cancelled"


def test_a_job_that_died_is_failed_with_its_last_log_lines(curated, tmp_path):
    with Store(curated) as store:
        run_id = start_run(
            store,
            Job(PRESETS["cpu-demo"], base=str(tmp_path / "no-such-model")),
            user="ann",
            root=tmp_path / "runs",
        )
        run = wait_until_finished(store, run_id, timeout=120)
        assert run["status"] == "failed"
        assert "no-such-model" in run["error"]


def test_a_run_killed_from_outside_is_failed_after_an_app_restart(curated, tmp_path):
    import curator.jobs

    with Store(curated) as store:
        run_id = start_run(
            store, Job(PRESETS["cpu-demo"], preset="cpu-demo"), user="ann", root=tmp_path / "runs"
        )
        pid = store.scalar("SELECT pid FROM runs WHERE run_id = ?", [run_id])
        folder = store.scalar("SELECT folder FROM runs WHERE run_id = ?", [run_id])
        child = curator.jobs._started.pop(folder)  # forgotten, as after an app restart
        time.sleep(1)
        os.killpg(pid, signal.SIGKILL)
        child.wait()
        refresh(store)
        assert store.scalar("SELECT status FROM runs WHERE run_id = ?", [run_id]) == "failed"
