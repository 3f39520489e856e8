"""The minimum training window: how many curated trajectories give most of the gain (issue 16).

On the sample world: imports the sample set, decides it by its source labels (`curator bulk`),
then for each fraction of the accepted set (default 25%, 50%; 100% is `all`, shared) chooses a
subset with `curator select` by `diverse` and by `random` (same seed), trains SFT on each
(`trainer.run.train`, the same preset and one epoch over its own rows), evaluates each and the
base on the same held-out tasks of the world, and plots task success against the number of
trajectories. Answers: how many trajectories give 90% of the full set's gain over the base, and
which strategy got there first.

    python benchmarks/min_window.py [--preset cpu-smoke] [--eval-tasks 20] [--out DIR]

Writes DIR/min_window.json (every run's figures) and DIR/min_window.png (the curve).
Heavy: run it under `nice -n 5 flock /tmp/heavy.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from curator.ingest import import_file
from curator.paths import SAMPLE_TRAJECTORIES
from curator.review import bulk_by_labels
from curator.stats import store_stats
from curator.store import Store
from curator.subset import select_store
from trainer.evaluate import evaluate, select_tasks
from trainer.policy import ModelPolicy
from trainer.presets import get_preset
from trainer.run import train

GAIN_SHARE = 0.9


def curated_store(path: Path) -> None:
    with Store(path) as store:
        import_file(store, str(SAMPLE_TRAJECTORIES))
        bulk_by_labels(store, "bench")


def subsets(store_path: Path, root: Path, fractions: list[float], seed: int) -> list[dict]:
    """One export per (strategy, fraction), and the whole accepted set once."""
    made = []
    with Store(store_path) as store:
        counts = store_stats(store)
        accepted = counts["accepted"] + counts["edited"]
        for fraction in fractions:
            for strategy in ("diverse", "random"):
                out = root / f"{strategy}-{round(fraction * 100)}"
                budget = max(1, round(fraction * accepted))
                result = select_store(store, out, budget=budget, strategy=strategy, seed=seed)
                made.append({"strategy": strategy, "fraction": fraction, "data": out, **_n(result)})
        result = select_store(store, root / "all-100", budget=None, strategy="all", seed=seed)
        made.append({"strategy": "all", "fraction": 1.0, "data": root / "all-100", **_n(result)})
    return made


def _n(result: dict) -> dict:
    return {"trajectories": result["selection"]["chosen"], "sft_train_rows": result["sft"]["train"]}


def success(policy, tasks) -> dict:
    metrics = evaluate(policy, tasks, show_progress=False)
    policy.close()
    return {k: metrics[k] for k in ("task_success", "valid_tool_call_rate") if k in metrics}


def run_all(args, root: Path) -> dict:
    store_path = root / "store.duckdb"
    curated_store(store_path)
    runs = subsets(store_path, root, args.fractions, args.seed)
    tasks = select_tasks(args.eval_tasks)
    # SFT only, epochs over each subset's own rows: the preset's step limit is unset
    config = replace(get_preset(args.preset), stages=("sft",), max_steps=None, epochs=args.epochs)
    base = None
    for run in runs:
        start = time.perf_counter()
        trained = train(run["data"], root / f"run-{run['data'].name}", None, config)
        run["train_s"] = round(time.perf_counter() - start, 1)
        run["adapter"] = trained["adapter"]
        start = time.perf_counter()
        run.update(success(ModelPolicy(None, trained["adapter"]), tasks))
        run["eval_s"] = round(time.perf_counter() - start, 1)
        run["data"] = str(run["data"])
        gc.collect()
        print(json.dumps(run), flush=True)
        if base is None:  # the base, with the chat template training used
            base = success(ModelPolicy(None, tokenizer_dir=trained["adapter"]), tasks)
            print(json.dumps({"base": base}), flush=True)
    return {
        "preset": args.preset,
        "epochs": args.epochs,
        "eval_tasks": len(tasks),
        "base": base,
        "runs": runs,
    }


def answer(result: dict) -> dict:
    """The smallest subset per strategy reaching 90% of the full set's gain over the base."""
    base = result["base"]["task_success"]
    full = next(r for r in result["runs"] if r["strategy"] == "all")
    gain = full["task_success"] - base
    target = base + GAIN_SHARE * gain
    reached = dict.fromkeys(("diverse", "random"))
    for strategy in reached if gain > 0 else ():  # no gain: nothing to reach 90% of
        hits = sorted(
            r["trajectories"]
            for r in result["runs"]
            if r["strategy"] in (strategy, "all") and r["task_success"] >= target
        )
        reached[strategy] = hits[0] if hits else None
    known = {s: n for s, n in reached.items() if n is not None}
    best = min(known.values(), default=None)
    firsts = [s for s, n in known.items() if n == best]
    return {
        "full_gain": round(gain, 4),
        "target_success": round(target, 4),
        "trajectories_for_90pct": reached,
        "first": firsts[0] if len(firsts) == 1 else ("tie" if firsts else None),
    }


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4))
    ax = figure.subplots()
    full = next(r for r in result["runs"] if r["strategy"] == "all")
    for strategy, colour in (("diverse", "#ea580c"), ("random", "#2563eb")):
        points = sorted(
            (r["trajectories"], r["task_success"]) for r in result["runs"] if r["strategy"] == strategy
        )
        points.append((full["trajectories"], full["task_success"]))
        ax.plot(*zip(*points, strict=True), marker="o", color=colour, label=strategy)
    ax.axhline(result["base"]["task_success"], color="#64748b", linestyle=":", label="base")
    ax.axhline(
        result["answer"]["target_success"], color="#16a34a", linestyle="--", label="90% of the full gain"
    )
    ax.set_xlabel("curated trajectories trained on")
    ax.set_ylabel(f"task success ({result['eval_tasks']} held-out tasks)")
    ax.set_title(f"Minimum training window (sample world, {result['preset']})")
    ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-smoke")
    parser.add_argument("--epochs", type=float, default=1.0, help="over each subset's own rows")
    parser.add_argument("--eval-tasks", type=int, default=20, help="held-out tasks (the first N)")
    parser.add_argument("--fractions", type=lambda s: [float(x) for x in s.split(",")], default=[0.25, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, help="folder for min_window.json and .png (default: a temp folder)"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="min-window-"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_all(args, Path(tmp))
    result["answer"] = answer(result)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    (out / "min_window.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "min_window.png")
    print(f"base task success {result['base']['task_success']:.1%} on {result['eval_tasks']} held-out tasks")
    for r in result["runs"]:
        print(
            f"{r['strategy']:>8} {r['trajectories']:4d} trajectories: task success {r['task_success']:.1%} "
            f"(train {r['train_s']:.0f} s, eval {r['eval_s']:.0f} s)"
        )
    a = result["answer"]
    if a["full_gain"] <= 0:
        print("the full set gained nothing over the base at this setting: no window to find")
    else:
        print(
            f"90% of the full gain ({a['full_gain']:+.1%}): diverse at "
            f"{a['trajectories_for_90pct']['diverse']}, random at "
            f"{a['trajectories_for_90pct']['random']} trajectories; first: {a['first']}"
        )
    print(f"wall time {result['wall_s'] / 60:.1f} min; figures in {out}")


if __name__ == "__main__":
    main()
