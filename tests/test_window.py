"""The minimum training window curve: the 90%-of-the-gain answer as a pure function, the subsets exported from the
store, and the curve's job (each subset trained in its own process, every subset and the base benchmarked on the
same tasks) started, followed and cancelled the app's way."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from curator.store import Store
from curator.window import (
    WindowError,
    cancel_curve,
    curve_folders,
    latest_curve,
    parse_fractions,
    prepare_curve,
    start_curve,
)
from trainer.errors import TrainerError
from trainer.window import Curve, answer, curve_config, figure


def runs(base: float, **points) -> tuple[float, list[dict]]:
    """`diverse=[(n, success), ...]`, `random=...`, `all=(n, success)` as curve runs."""
    made = [{"strategy": "all", "trajectories": points["all"][0], "task_success": points["all"][1]}]
    for strategy in ("diverse", "random"):
        made += [
            {"strategy": strategy, "trajectories": n, "task_success": s} for n, s in points.get(strategy, [])
        ]
    return base, made


def test_answer_finds_the_fewest_trajectories_reaching_90_percent_of_the_gain():
    base, made = runs(0.1, diverse=[(25, 0.3), (50, 0.5)], random=[(25, 0.2), (50, 0.4)], all=(100, 0.5))
    assert answer(base, made) == {
        "full_gain": 0.4,
        "target_success": 0.46,
        "trajectories_for_90pct": {"diverse": 50, "random": 100},  # random needs the whole set
        "first": "diverse",
    }


def test_answer_with_no_gain_over_the_base_has_no_window():
    for full in (0.2, 0.1):  # worse than the base, or equal
        base, made = runs(0.2, diverse=[(25, 0.3)], random=[(25, 0.0)], all=(100, full))
        got = answer(base, made)
        assert got["trajectories_for_90pct"] == {"diverse": None, "random": None}
        assert got["first"] is None and got["full_gain"] <= 0


def test_answer_ties_and_ratios_that_reach_the_target_exactly():
    base, made = runs(0.0, diverse=[(10, 0.5), (20, 0.5)], random=[(10, 0.45)], all=(40, 0.5))
    assert answer(base, made)["trajectories_for_90pct"] == {"diverse": 10, "random": 10}
    assert answer(base, made)["first"] == "tie"
    # 17 of 20 solved against a base of 8 of 20 and a whole set of 18 of 20: 0.4 + 0.9 * 0.5 is 0.8500000000000001
    base, made = runs(8 / 20, diverse=[(5, 17 / 20)], random=[(5, 16 / 20)], all=(30, 18 / 20))
    assert answer(base, made)["trajectories_for_90pct"] == {"diverse": 5, "random": 30}
    with pytest.raises(TrainerError, match="no run on the whole curated set"):
        answer(0.0, made[1:])


def test_figure_draws_success_and_unknown_tool_rate_per_strategy_skipping_runs_without_valid_calls():
    base, made = runs(0.0, diverse=[(25, 0.0), (50, 0.1)], random=[(25, 0.0), (50, 0.0)], all=(100, 0.2))
    unknown = {
        ("diverse", 25): None,
        ("diverse", 50): 0.8,
        ("random", 25): 0.9,
        ("random", 50): None,
        ("all", 100): 0.1,
    }
    for r in made:
        r["unknown_tool_rate"] = unknown[r["strategy"], r["trajectories"]]
    result = {"base": {"task_success": base}, "runs": made, "answer": answer(base, made), "eval_tasks": 4}
    success, rates = figure({**result, "preset": "cpu-demo"}).axes
    drawn = {line.get_label(): list(zip(*line.get_data(), strict=True)) for line in rates.get_lines()}
    assert drawn == {"diverse": [(50, 0.8), (100, 0.1)], "random": [(25, 0.9), (100, 0.1)]}
    lines = {line.get_label(): list(line.get_ydata()) for line in success.get_lines()}
    assert lines["diverse"] == [0.0, 0.1, 0.2] and lines["random"] == [0.0, 0.0, 0.2]
    assert lines["base"] == [0.0, 0.0] and "90% of the full gain" in lines
    assert (
        figure({**result, "preset": "cpu-demo", "env": "sql"})
        ._suptitle.get_text()
        .endswith("(sql, cpu-demo)")
    )

    for r in made:  # no run made a valid call: the panel says so instead of an empty plot
        r["unknown_tool_rate"] = None
    _, rates = figure({**result, "preset": "cpu-demo"}).axes
    assert not rates.get_lines() and [t.get_text() for t in rates.texts] == ["no valid tool call in any run"]


def test_fractions_parse_to_shares_of_the_curated_set():
    assert parse_fractions("0.5, 0.25,0.5,1") == (0.25, 0.5)  # the whole set is always one point
    for bad, why in (("0.25,x", "not a list of numbers"), ("0,0.5", "0.0 is not a share"), ("1.5", "1.5")):
        with pytest.raises(WindowError, match=why):
            parse_fractions(bad)


def test_subsets_are_exported_for_each_strategy_and_fraction(curated, tmp_path):
    with Store(curated) as store:
        accepted = store.scalar("SELECT count(*) FROM state WHERE status = 'accepted'")
        curve = prepare_curve(
            store, tmp_path / "curve", config=curve_config("cpu-smoke"), fractions=(0.5,), seed=3
        )
        with pytest.raises(WindowError, match="not empty"):
            prepare_curve(store, tmp_path / "curve", config=curve_config("cpu-smoke"))
        with pytest.raises(WindowError, match="eval tasks must be at least 1"):
            prepare_curve(store, tmp_path / "other", config=curve_config("cpu-smoke"), eval_tasks=0)
    assert [s["name"] for s in curve.subsets] == ["diverse-50", "random-50", "all-100"]
    assert curve.subsets[1]["trajectories"] == round(accepted / 2)
    assert curve.subsets[0]["trajectories"] <= round(accepted / 2)  # diverse never takes two near-duplicates
    assert curve.subsets[2]["trajectories"] == accepted
    assert Curve.read(tmp_path / "curve") == curve
    assert curve.config.stages == ("sft",) and curve.config.max_steps is None  # the epochs decide
    for s in curve.subsets:
        manifest = json.loads((tmp_path / "curve" / "subsets" / s["name"] / "manifest.json").read_text())
        assert manifest["selection"]["strategy"] == s["strategy"] and manifest["selection"]["seed"] == 3
        assert len(manifest["selection"]["ids"]) == s["trajectories"]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(group) == pgid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_until_done(root, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = latest_curve(root)
        if state["status"] != "running":
            return state
        time.sleep(1)
    raise AssertionError(f"the curve in {root} still runs after {timeout} s")


@pytest.mark.slow
def test_a_curve_trains_each_subset_benchmarks_all_and_answers(curated, tiny_base, tmp_path):
    root = tmp_path / "runs"
    settings = {"config": curve_config("cpu-smoke", max_steps=1), "fractions": (0.5,), "eval_tasks": 2}
    with Store(curated) as store:
        folder = start_curve(store, root, base=str(tiny_base), preset="cpu-smoke", **settings)
        with pytest.raises(WindowError, match="still running"):
            start_curve(store, root, base=str(tiny_base), **settings)
    running = latest_curve(root)
    assert running["status"] == "running" and running["folder"] == str(folder)
    state = wait_until_done(root, timeout=600)
    assert state["status"] == "succeeded", state["log"]
    result = state["result"]
    assert result == json.loads((folder / "min_window.json").read_text())
    assert [(r["strategy"], r["fraction"]) for r in result["runs"]] == [
        ("diverse", 0.5),
        ("random", 0.5),
        ("all", 1.0),
    ]
    assert result["eval_tasks"] == 2 and len(result["task_ids"]) == 2
    for r in [result["base"], *result["runs"]]:
        assert 0 <= r["task_success"] <= 1 and r["eval_s"] > 0
    for r in result["runs"]:
        assert r["train_s"] > 0 and r["peak_rss_mb"] > 100 and os.path.isdir(r["adapter"])
        summary = json.loads(
            (folder / "runs" / f"{r['strategy']}-{round(r['fraction'] * 100)}" / "result.json").read_text()
        )
        assert summary["stages"]["sft"]["steps"] == 1
    assert result["answer"] == answer(result["base"]["task_success"], result["runs"])
    assert (folder / "min_window.png").stat().st_size > 0 and figure(result).axes
    assert state["progress"]["done"] == state["progress"]["total"] == 7  # 3 trainings, 4 benchmarks


@pytest.mark.slow
def test_cancel_ends_the_curve_and_its_subset_training(curated, tmp_path):
    root = tmp_path / "runs"
    with Store(curated) as store:
        folder = start_curve(store, root, config=curve_config("cpu-demo"), fractions=(0.5,), eval_tasks=2)
    pid = int((folder / "pid").read_text())
    deadline = time.monotonic() + 120
    while not (folder / "runs" / "diverse-50" / "log.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.5)  # the first subset's training process has started
    cancel_curve(root)
    deadline = time.monotonic() + 30  # the subset's training process ends on its own SIGTERM
    while group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_members(pid), "the curve's job or its subset training still runs"
    assert latest_curve(root)["status"] == "cancelled"
    with pytest.raises(WindowError, match="no curve is running"):
        cancel_curve(root)
    assert [p.name for p in curve_folders(root)] == ["window-0001"]
