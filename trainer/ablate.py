"""Ablation in one click (`curator train --ablate sft,sft+dpo,sft+kto`): which recipe wins on this data.

Each variant is one training job (`python -m trainer.job`, the process the app starts) on the same export, in its
own process so that its wall time and peak memory are its own; then the base and every variant run the agent
benchmark on the same held-out tasks. The answer is one table: a row per variant (and the base) with task success,
valid calls, unknown-tool rate, schema-valid rate, mean steps, wall time and peak memory.

`train_and_benchmark` is that machinery for any `Variant` (a name, an export, a config): here a stage list over
one export; for the minimum training window (`trainer.window`) a subset export each. From the app, an ablation is
a run whose `Job` names variants (`trainer.job` calls `ablate` on the run folder); `table_rows` and `figure` are
the table and chart the Train tab shows of its `ablation.json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from trainer import runfolder
from trainer.errors import TrainerError
from trainer.presets import TrainConfig, stage_list

METRICS = ("task_success", "valid_tool_call_rate", "unknown_tool_rate", "schema_valid_rate", "mean_steps")
Step = Callable[
    [int, int, str, str | None], None
]  # (steps done, steps in all, what now, the variant's folder)


@dataclass(frozen=True)
class Variant:
    """One row of a comparison: its name, the export it trains on and its settings."""

    name: str
    data: Path
    config: TrainConfig

    @property
    def folder(self) -> str:
        return self.name.replace("+", "-")


def parse_variants(text: str) -> dict[str, tuple[str, ...]]:
    """`sft,sft+dpo` -> {"sft": ("sft",), "sft+dpo": ("sft", "dpo")}; one-line error for an unknown stage."""
    try:
        variants = {
            name: stage_list(name.replace("+", ",")) for name in (v.strip() for v in text.split(",")) if name
        }
    except ValueError as exc:
        raise TrainerError(f"--ablate {text}: {exc}") from None
    if not variants:
        raise TrainerError("--ablate: give variants such as sft,sft+dpo,sft+kto")
    return variants


def train_variant(folder: Path, data: Path, base: str | None, config: TrainConfig) -> dict:
    """One variant trained by `python -m trainer.job` in `folder`; its wall time and peak RSS (the job's own:
    the child's `ru_maxrss` would count this process's size at the fork)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / runfolder.EXPORT).symlink_to(Path(data).resolve(), target_is_directory=True)
    runfolder.Job(config, base, eval_tasks=0).write(folder)
    started = time.perf_counter()
    with (folder / runfolder.LOG).open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "trainer.job", str(folder)], stdout=log, stderr=log)
        code = proc.wait()
    if code != 0:
        raise TrainerError(f"variant in {folder} failed; see {folder / runfolder.LOG}")
    result = json.loads((folder / runfolder.RESULT).read_text())
    return {"wall_s": round(time.perf_counter() - started, 1), "peak_rss_mb": result["peak_rss_mb"]}


def train_and_benchmark(
    variants: list[Variant], out: Path, base: str | None, tasks: list, step: Step | None = None
) -> list[dict]:
    """Train every variant in its own process (in `out/<variant folder>`), then benchmark the base and each on
    `tasks`: the rows {"variant", metrics..., "wall_s", "peak_rss_mb", "eval_s", "adapter"}, the base first.
    `step(done, total, what, folder)` is told before each training and each benchmark."""
    from trainer.policy import ModelPolicy

    out = Path(out)
    taken = [out / v.folder for v in variants if (out / v.folder).exists()]
    if taken:
        raise TrainerError(f"{taken[0]} holds an earlier run: choose another --out")
    step = step or (lambda done, total, what, folder: None)
    total = 2 * len(variants) + 1
    costs = {}
    for k, v in enumerate(variants):
        step(k, total, f"training {v.name}", str(out / v.folder))
        costs[v.name] = train_variant(out / v.folder, v.data, base, v.config)
        result = json.loads((out / v.folder / runfolder.RESULT).read_text())
        costs[v.name]["adapter"] = result["adapter"]
    first = costs[variants[0].name]["adapter"]  # its tokenizer holds the chat template training used
    step(len(variants), total, "benchmarking the base", None)
    no_cost = {"wall_s": None, "peak_rss_mb": None, "adapter": None}
    rows = [benchmark("base", ModelPolicy(base, tokenizer_dir=first), tasks, no_cost)]
    for k, v in enumerate(variants, len(variants) + 1):
        step(k, total, f"benchmarking {v.name}", None)
        rows.append(benchmark(v.name, ModelPolicy(base, costs[v.name]["adapter"]), tasks, costs[v.name]))
    step(total, total, "done", None)
    return rows


def progress_writer(path: Path) -> Step:
    """A `Step` that keeps {"done", "total", "now", "folder"} in `path` (the app follows it) and prints each step
    to the job's log."""

    def step(done: int, total: int, now: str, folder: str | None) -> None:
        Path(path).write_text(json.dumps({"done": done, "total": total, "now": now, "folder": folder}))
        print(f"[{done}/{total}] {now}", flush=True)

    return step


def ablate(
    data: Path,
    out: Path,
    base: str | None,
    config: TrainConfig,
    variants: str,
    eval_tasks: int | None = None,
    step: Step | None = None,
) -> dict:
    """Train every variant, evaluate each and the base on the same tasks; the `--json` object: {"tasks", "split",
    "task_ids", "rows": [{"variant", metrics..., "wall_s", "peak_rss_mb", "eval_s", "adapter"}]}, also written
    to `out/ablation.json`."""
    from trainer.evaluate import benchmark_tasks

    chosen = parse_variants(variants)
    tasks = benchmark_tasks(eval_tasks, config)
    rows = train_and_benchmark(
        [Variant(name, Path(data), replace(config, stages=stages)) for name, stages in chosen.items()],
        out,
        base,
        tasks,
        step,
    )
    table = {"tasks": len(tasks), "split": config.eval_split, "task_ids": [t.id for t in tasks], "rows": rows}
    (Path(out) / runfolder.ABLATION).write_text(json.dumps(table, indent=2))
    return table


def benchmark(name: str, policy, tasks, cost: dict) -> dict:
    """One row of the table: the policy's metrics on the tasks, then its model freed."""
    from trainer.evaluate import evaluate

    started = time.perf_counter()
    try:
        result = evaluate(policy, tasks, desc=f"{name} benchmark")
    finally:
        policy.close()
    return {
        "variant": name,
        **{k: result[k] for k in METRICS},
        **cost,
        "eval_s": round(time.perf_counter() - started, 1),
    }


def tasks_label(n: int, split: str | None = "eval") -> str:
    """How a table names the tasks it was measured on: held-out (the final test) or the train split."""
    return f"{n} {'held-out' if split in (None, 'eval') else split} tasks"


HEAD = (
    "variant",
    "success",
    "valid calls",
    "unknown tool",
    "schema valid",
    "mean steps",
    "train s",
    "peak MB",
)
CHART = {
    "task_success": "task success",
    "valid_tool_call_rate": "valid calls",
    "unknown_tool_rate": "unknown tool",
}
CHART_COLORS = ("#16a34a", "#2563eb", "#dc2626")


def table_rows(table: dict) -> list[list[str]]:
    """The table's rows as text, one per variant (the base first) in the columns of `HEAD`: rates as percentages,
    "-" where there is no value (the base trained nothing; no call attempted)."""

    def cell(value, pct: bool) -> str:
        if value is None:
            return "-"
        return f"{value:.0%}" if pct else f"{value}"

    pcts = [True, True, True, True, False, False, False]
    return [
        [
            r["variant"],
            *(cell(r[k], p) for k, p in zip([*METRICS, "wall_s", "peak_rss_mb"], pcts, strict=True)),
        ]
        for r in table["rows"]
    ]


def table_lines(table: dict, title: str = "ablation") -> list[str]:
    """The ablation (or any table of `benchmark` rows, e.g. benchmarks/loop.py's rounds) as a text table."""
    lines = [" | ".join(HEAD), *(" | ".join(row) for row in table_rows(table))]
    return [f"{title} on {tasks_label(table['tasks'], table.get('split'))}", *lines]


def figure(table: dict):
    """Grouped bars: per variant (the base first), task success, valid calls and the unknown-tool rate; "n/a" where
    a rate has no denominator rather than a bar of zero."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    rows = table["rows"]
    width = 0.8 / len(CHART)
    fig = Figure(figsize=(max(5.0, 1.6 * len(rows)), 3.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for k, ((metric, label), colour) in enumerate(zip(CHART.items(), CHART_COLORS, strict=True)):
        xs = [i + (k - (len(CHART) - 1) / 2) * width for i in range(len(rows))]
        values = [r.get(metric) for r in rows]
        ax.bar(xs, [v or 0 for v in values], width=width, label=label, color=colour)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.text(x, 0.02, "n/a", ha="center", fontsize=7, alpha=0.7)
    ax.set_xticks(range(len(rows)), [r["variant"] for r in rows])
    ax.set(ylim=(0, 1), title=f"Ablation on {tasks_label(table['tasks'], table.get('split'))}")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.title.set_fontsize(10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
