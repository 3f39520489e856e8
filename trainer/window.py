"""The minimum training window (issue 16): how many curated trajectories give most of the gain.

`python -m trainer.window FOLDER` trains SFT on each subset export in FOLDER (chosen from the store by
`curator.window`: a share of the curated set by `diverse` and by `random`, and the whole set), each subset a
variant of `trainer.ablate` (its own process, its wall time and peak memory its own), benchmarks the base and every
subset on the same held-out tasks, plots task success against the number of trajectories, and answers how many
trajectories give 90% of the full set's gain over the base and which strategy got there first. It never opens the
store; the app follows it through its folder:

    FOLDER/
      curve.json        what to run (`Curve`): the subsets and the training settings
      subsets/NAME/     one export per subset (`diverse-25`, `random-25`, ..., `all-100`), written before the job
      runs/NAME/        each subset's training job (a `trainer.runfolder` run folder)
      log.txt           this job's stdout and stderr (named as a run folder's log, `trainer.runfolder.LOG`)
      pid               this job's process id (written by whoever started it)
      progress.json     {"done", "total", "now", "folder"}: steps done of all, what runs now, the run folder training
      min_window.json   the result (`run_curve`), written only when every subset trained and was benchmarked
      min_window.png    the curve
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from trainer.ablate import METRICS, Variant, progress_writer, tasks_label, train_and_benchmark
from trainer.errors import TrainerError
from trainer.presets import TrainConfig, from_dict, get_preset, to_dict

CURVE = "curve.json"
SUBSETS = "subsets"
RUNS = "runs"
PID = "pid"
PROGRESS = "progress.json"
RESULT = "min_window.json"
PLOT = "min_window.png"
GAIN_SHARE = 0.9
STRATEGIES = ("diverse", "random")  # compared; `all` (the whole curated set) is the end point of both
TOLERANCE = 1e-9  # task success is a ratio of counts: 0.45 must reach a target computed as 0.9 * 0.5


def curve_config(preset: str | None, epochs: float = 1.0, max_steps: int | None = None) -> TrainConfig:
    """SFT only, `epochs` over each subset's own rows (the preset's step limit unset unless `max_steps`)."""
    return replace(get_preset(preset), stages=("sft",), epochs=epochs, max_steps=max_steps)


def subset_name(strategy: str, fraction: float) -> str:
    return f"{strategy}-{round(fraction * 100)}"


@dataclass(frozen=True)
class Curve:
    """What the job runs: the subsets (each {"name", "strategy", "fraction", "trajectories", "sft_train_rows"}, in
    training order) and how each is trained and benchmarked."""

    config: TrainConfig
    subsets: tuple[dict, ...]
    base: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    preset: str | None = None
    eval_tasks: int | None = None  # held-out tasks (the first N; None: all)
    seed: int = 0  # of the selection

    def to_dict(self) -> dict:
        return {
            "base": self.base,
            "preset": self.preset,
            "eval_tasks": self.eval_tasks,
            "seed": self.seed,
            "subsets": list(self.subsets),
            "config": to_dict(self.config),
        }

    def write(self, folder: Path) -> None:
        (Path(folder) / CURVE).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def read(cls, folder: Path) -> Curve:
        path = Path(folder) / CURVE
        try:
            values = json.loads(path.read_text())
            return cls(
                from_dict(values["config"]),
                tuple(values["subsets"]),
                values["base"],
                values["preset"],
                values["eval_tasks"],
                values["seed"],
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise TrainerError(f"{path}: not a curve file ({exc})") from exc


def answer(base_success: float, runs: list[dict], share: float = GAIN_SHARE) -> dict:
    """The fewest trajectories with which each strategy reaches `share` of the full set's gain over the base (the
    full set counts for both), and which strategy got there first ("tie" when both did at the same number; None
    when neither: with no gain over the base there is no window to find). `runs`: {"strategy", "trajectories",
    "task_success"}, one with strategy "all"."""
    full = next((r for r in runs if r["strategy"] == "all"), None)
    if full is None:
        raise TrainerError("no run on the whole curated set (strategy 'all'): nothing to measure the gain by")
    gain = full["task_success"] - base_success
    target = base_success + share * gain
    reached = dict.fromkeys(STRATEGIES)
    for strategy in reached if gain > TOLERANCE else ():
        hits = [
            r["trajectories"]
            for r in runs
            if r["strategy"] in (strategy, "all") and r["task_success"] >= target - TOLERANCE
        ]
        reached[strategy] = min(hits, default=None)
    known = {s: n for s, n in reached.items() if n is not None}
    firsts = [s for s, n in known.items() if n == min(known.values())]
    return {
        "full_gain": round(gain, 4),
        "target_success": round(target, 4),
        "trajectories_for_90pct": reached,
        "first": firsts[0] if len(firsts) == 1 else ("tie" if firsts else None),
    }


def run_curve(folder: Path) -> dict:
    """Train and benchmark every subset of the curve in `folder`; write and return the result: {"preset",
    "epochs", "max_steps", "seed", "eval_tasks", "env", "split", "task_ids", "base": {metrics, "eval_s"},
    "runs": [{"strategy", "fraction", "trajectories", "sft_train_rows", "data", "train_s", "peak_rss_mb",
    "adapter", metrics, "eval_s"}], "answer", "wall_s"}."""
    from trainer.evaluate import benchmark_tasks

    folder, started = Path(folder), time.perf_counter()
    curve = Curve.read(folder)
    tasks = benchmark_tasks(curve.eval_tasks, curve.config)

    variants = [Variant(s["name"], folder / SUBSETS / s["name"], curve.config) for s in curve.subsets]
    step = progress_writer(folder / PROGRESS)
    rows = {r["variant"]: r for r in train_and_benchmark(variants, folder / RUNS, curve.base, tasks, step)}
    runs = [
        {
            **{k: s[k] for k in ("strategy", "fraction", "trajectories", "sft_train_rows")},
            "data": str(folder / SUBSETS / s["name"]),
            "train_s": rows[s["name"]]["wall_s"],
            "peak_rss_mb": rows[s["name"]]["peak_rss_mb"],
            "adapter": rows[s["name"]]["adapter"],
            **{k: rows[s["name"]][k] for k in (*METRICS, "eval_s")},
        }
        for s in curve.subsets
    ]
    result = {
        "preset": curve.preset,
        "epochs": curve.config.epochs,
        "max_steps": curve.config.max_steps,
        "seed": curve.seed,
        "eval_tasks": len(tasks),
        "env": curve.config.eval_env,
        "split": curve.config.eval_split,
        "task_ids": [t.id for t in tasks],
        "base": {k: rows["base"][k] for k in (*METRICS, "eval_s")},
        "runs": runs,
    }
    result["answer"] = answer(result["base"]["task_success"], runs)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    write_result(result, folder)
    return result


def write_result(result: dict, folder: Path) -> None:
    """min_window.json and min_window.png in `folder`."""
    (Path(folder) / RESULT).write_text(json.dumps(result, indent=2))
    figure(result).savefig(Path(folder) / PLOT, dpi=110)


def figure(result: dict):
    """Two panels against trajectories trained on, a line per strategy ending at the whole set: task success (the
    base and the 90% target, when there is a gain, as horizontal lines) and the share of calls naming a tool that
    does not exist, which moves with the data long before a small model solves more tasks."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(10, 4), layout="constrained")
    success, unknown = fig.subplots(1, 2)
    full = next(r for r in result["runs"] if r["strategy"] == "all")
    styles = zip(STRATEGIES, ("#ea580c", "#2563eb"), ("s", "o"), ("--", "-"), strict=True)
    for strategy, colour, marker, line in styles:
        runs = sorted(
            (r for r in result["runs"] if r["strategy"] == strategy), key=lambda r: r["trajectories"]
        )
        runs.append(full)
        for ax, metric in ((success, "task_success"), (unknown, "unknown_tool_rate")):
            points = [(r["trajectories"], r[metric]) for r in runs if r.get(metric) is not None]
            if points:
                ax.plot(
                    *zip(*points, strict=True), marker=marker, linestyle=line, color=colour, label=strategy
                )
    success.axhline(result["base"]["task_success"], color="#64748b", linestyle=":", label="base")
    if result["answer"]["full_gain"] > 0:
        success.axhline(
            result["answer"]["target_success"], color="#16a34a", linestyle="--", label="90% of the full gain"
        )
    top = max([result["base"]["task_success"], *(r["task_success"] for r in result["runs"])])
    success.set_ylim(0, max(0.1, top) * 1.1)
    unknown.set_ylim(0, 1.05)
    for ax in (success, unknown):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("curated trajectories trained on")
        if ax.lines:
            ax.legend()
    if not unknown.lines:  # no run made a valid call: there is no rate to draw, and the panel says why
        unknown.set_xlim(*success.get_xlim())
        unknown.text(0.5, 0.5, "no valid tool call in any run", ha="center", transform=unknown.transAxes)
    success.set_ylabel(f"task success ({tasks_label(result['eval_tasks'], result.get('split'))})")
    unknown.set_ylabel("calls to unknown tools (of valid calls)")
    where = ", ".join(v for v in (result.get("env"), result["preset"] or "default settings") if v)
    fig.suptitle(f"Minimum training window ({where})")
    return fig


def _share(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def summary_lines(result: dict) -> list[str]:
    """The curve in words: the base, each subset, and the answer."""
    lines = [
        f"base task success {result['base']['task_success']:.1%} on "
        f"{tasks_label(result['eval_tasks'], result.get('split'))}"
    ]
    for r in result["runs"]:
        lines.append(
            f"{r['strategy']:>8} {r['trajectories']:4d} trajectories: task success {r['task_success']:.1%}, "
            f"unknown tools {_share(r.get('unknown_tool_rate'))} (train {r['train_s']:.0f} s, eval {r['eval_s']:.0f} s)"
        )
    a = result["answer"]
    if a["full_gain"] <= 0:
        lines.append("the full set gained nothing over the base at this setting: no window to find")
    else:
        reached = a["trajectories_for_90pct"]
        lines.append(
            f"90% of the full gain ({a['full_gain']:+.1%}): diverse at {reached['diverse']}, random at "
            f"{reached['random']} trajectories; first: {a['first']}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / CURVE).is_file():
        print(f"usage: python -m trainer.window FOLDER (a folder holding {CURVE})", file=sys.stderr)
        return 2
    try:
        result = run_curve(Path(args[0]))
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
