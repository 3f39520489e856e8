"""The Train tab: start a run on the current curated set, follow it live, compare base and tuned.

Everything shown comes from the store (`runs`) and the run's folder (metrics log, log file,
evaluation), never from the browser session, so a reload or a second reviewer sees the same run.
A `gr.Timer` polls every 4 s, only while a run is running and this tab is shown, and redraws only
what changed (`curator.follow`), so following a run costs the run little CPU. The run itself is
`curator.runs`: the export happens here, in the app (the store's only writer), the training in
a separate process. An ablation (the "ablation" box: variants such as sft, sft+dpo, sft+kto) is a run too: followed
by its steps (which variant trains or is benchmarked), and when finished shown as one table and one chart
(`trainer.ablate.table_rows`, `figure`) read from its folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure

from curator import follow
from curator.app import render
from curator.app.context import TabContext
from curator.envs.sample import EVAL_TASKS
from curator.export import ExportError
from curator.follow import LogView
from curator.model import ToolCall, Turn
from curator.runs import ablation_progress, read_ablation, read_evaluation
from curator.store import StoreError
from trainer import ablate
from trainer.errors import TrainerError
from trainer.evaluate import METRICS
from trainer.presets import (
    PRESETS,
    STAGES,
    TrainConfig,
    field_type,
    get_preset,
    parse_value,
    settable,
    with_overrides,
)
from trainer.runfolder import RESULT, Job

DEFAULT_BASE = "SmolLM2-135M-Instruct (embedded default)"
FORM = ("stages", "max_steps", "eval_each_epoch")  # in the form's first rows; the other settings under "more"
MORE = [f.name for f in settable() if f.name not in FORM]
RUN_COLUMNS = [
    "id",
    "created",
    "by",
    "base",
    "preset",
    "stages",
    "status",
    "duration",
    "final losses",
    "adapter",
]
RUN_WIDTHS = ["4%", "9%", "10%", "13%", "8%", "7%", "8%", "7%", "16%", "18%"]  # fits 1280 px, wraps below
POLL_S = 4.0  # a CPU training step takes 10 s or more; each poll costs the server CPU the run could use
LOG_LINES = 16
STAGE_COLORS = {"sft": "#2563eb", "dpo": "#ea580c", "kto": "#16a34a"}
SIDE_COLORS = {"base": "#64748b", "tuned": "#ea580c"}
OUTCOMES = {
    "final": "failed (its final answer did not pass the task's check)",
    "step_limit": "failed (no final answer within the step limit)",
}


def help_of(name: str) -> str:
    """A TrainConfig field's help text: the form's labels are the CLI's help."""
    return TrainConfig.__dataclass_fields__[name].metadata["help"]


def placeholders(preset: str) -> list[str]:
    """What each "more settings" box means when left empty: the preset's value."""
    config = get_preset(preset)
    return [_text(getattr(config, name)) for name in MORE]


def _text(value) -> str:
    if value is None:
        return "unset"
    return ",".join(value) if isinstance(value, tuple) else str(value)


def job_of(
    base,
    preset,
    stages,
    max_steps,
    eval_tasks,
    each_epoch,
    more: dict[str, str] | None = None,
    ablation: bool = False,
    variants: str = "",
) -> Job:
    """The form as a Job; raises StoreError (one line) for what the user must change. A text box holds a
    field's text form, parsed as the CLI parses its flag; an empty box leaves the preset's value. With
    `ablation`, the variants (read as `--ablate` reads them) replace the stages."""
    try:
        chosen = tuple(ablate.parse_variants(variants or "")) if ablation else None
    except TrainerError as exc:
        raise StoreError(str(exc)) from exc
    if not stages and not ablation:
        raise StoreError("tick at least one stage")
    eval_tasks = int(eval_tasks or 0)
    if not 0 <= eval_tasks <= len(EVAL_TASKS):
        raise StoreError(f"eval tasks must be 0 (no evaluation) to {len(EVAL_TASKS)}, got {eval_tasks}")
    if each_epoch and not eval_tasks:
        raise StoreError("the benchmark after every epoch needs at least 1 eval task")
    if ablation and not eval_tasks:
        raise StoreError("an ablation compares the variants on eval tasks: give at least 1")
    texts = {"max_steps": max_steps, **(more or {})}
    try:
        overrides = {k: parse_value(k, str(v)) for k, v in texts.items() if str(v or "").strip()}
        config = with_overrides(
            get_preset(preset),
            **overrides,
            stages=tuple(s for s in STAGES if s in stages) if not ablation else None,
            eval_each_epoch=eval_tasks if each_epoch else None,
        )
    except (ValueError, TrainerError) as exc:
        raise StoreError(str(exc)) from exc
    return Job(config, base=(base or "").strip() or None, preset=preset, eval_tasks=eval_tasks, ablate=chosen)


def base_name(base: str | None) -> str:
    return DEFAULT_BASE if base in (None, "", "default") else base


def _duration(run: dict) -> str:
    end = run["finished_at"] or datetime.now()
    seconds = max(0, int((end - run["created_at"]).total_seconds()))
    return f"{seconds // 60}m {seconds % 60:02d}s"


def _result(run: dict) -> dict:
    return json.loads(run["result"]) if run["result"] else {}


def job_of_run(run: dict) -> Job:
    return Job.from_dict(json.loads(run["config"]))


def stages_label(run: dict) -> str:
    """The runs table's stages cell: the stages, or for an ablation its variants."""
    variants = job_of_run(run).ablate
    return f"ablation: {', '.join(variants)}" if variants else run["stages"]


def runs_table(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for r in runs:
        result = _result(r)
        losses = " · ".join(
            f"{stage} {s['loss_last']:.3f}"
            for stage, s in result.get("stages", {}).items()
            if s.get("loss_last") is not None
        )
        rows.append(
            [
                r["run_id"],
                f"{r['created_at']:%m-%d %H:%M}",
                r["created_by"],
                short_base(r["base"]),
                r["preset"],
                stages_label(r),
                r["status"],
                _duration(r),
                losses,
                _within(result.get("adapter", ""), r["folder"]),
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def short_base(base: str | None) -> str:
    """The base as the runs table names it, so the table fits a laptop screen: the details show it whole."""
    return "SmolLM2-135M (default)" if base in (None, "", "default") else Path(base).name or base


def _within(path: str, folder: str) -> str:
    """A path inside the run folder, relative to it (the folder is in the details)."""
    try:
        return str(Path(path).relative_to(folder))
    except ValueError:
        return path


def curves(metrics: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Loss per stage, DPO reward margins, and benchmark task success per epoch."""
    losses = [[m["step"], m["loss"], m["stage"]] for m in metrics if "loss" in m]
    margins = [[m["step"], m["rewards/margins"], m["stage"]] for m in metrics if "rewards/margins" in m]
    epochs = [
        [f"{m['stage']} epoch {round(m['epoch'], 2):g}", m["task_success"], m["stage"]]
        for m in metrics
        if "task_success" in m and m["task_success"] is not None
    ]
    return (
        pd.DataFrame(losses, columns=["step", "loss", "stage"]),
        pd.DataFrame(margins, columns=["step", "margin", "stage"]),
        pd.DataFrame(epochs, columns=["epoch", "task success", "stage"]),
    )


def figure(frame: pd.DataFrame, x: str, y: str, title: str, bars: bool = False) -> Figure:
    """One plot, drawn whole on the server: Gradio's native plots update only the data of a
    chart already drawn and keep its legend, so a stage that starts later would not show."""
    fig = Figure(figsize=(4.4, 3.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for stage in STAGES:
        part = frame[frame["stage"] == stage]
        if bars and not part.empty:
            ax.bar(part[x], part[y], label=stage, color=STAGE_COLORS[stage])
        elif not part.empty:
            ax.plot(part[x], part[y], marker="o", markersize=3, label=stage, color=STAGE_COLORS[stage])
    ax.set(title=title, xlabel=x, ylabel=y)
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    if bars:
        ax.set_ylim(0, 1)
    if frame.empty:
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", alpha=0.6)
    else:
        ax.legend(title="stage", fontsize=8)
    return fig


def plots(metrics: list[dict], drawn: list[int] | None = None) -> dict[int, object]:
    """Updates of the three live plots (loss, DPO margins, task success after each epoch), keyed by position.
    A plot whose curve has the number of points `drawn` says is on screen is left out: drawing one costs
    about 0.1 s of CPU."""
    loss, margins, epochs = curves(metrics)
    draws = [
        (loss, lambda: gr.Plot(figure(loss, "step", "loss", "Loss per stage"), visible=True)),
        (
            margins,
            lambda: gr.Plot(
                figure(margins, "step", "margin", "DPO reward margin (chosen - rejected)"), visible=True
            ),
        ),
        (
            epochs,
            lambda: gr.Plot(
                figure(epochs, "epoch", "task success", "Benchmark task success after each epoch", bars=True),
                visible=not epochs.empty,
            ),
        ),
    ]
    return {i: draw() for i, (frame, draw) in enumerate(draws) if not (drawn and drawn[i] == len(frame))}


def curve_sizes(metrics: list[dict]) -> list[int]:
    return [len(frame) for frame in curves(metrics)]


def phase(run: dict, metrics: list[dict], log: LogView) -> str:
    """One line on where the run is: preparing, a stage's step, evaluating, or its outcome. The stage and
    step come from the log as it is written (the metrics log has a line per logging step only)."""
    head = f"Run {run['run_id']} · {escape(run['status'])} · {_duration(run)}"
    if run["status"] != "running":
        return f'<div class="progress run-{escape(run["status"])}"><b>{head}</b></div>'
    if (Path(run["folder"]) / RESULT).is_file():
        now = "training done; evaluating base vs tuned on the held-out tasks"
        if log.bar and log.bar[0] in ("base", "tuned"):
            now += f": {log.bar[0]} {log.bar[1]} of {log.bar[2]} tasks"
    elif log.stage:
        now = f"training {log.stage}"
        if log.bar and log.bar[0] == "progress":
            now += f": step {log.bar[1]} of {log.bar[2]}"
        losses = [m["loss"] for m in metrics if m.get("stage") == log.stage and "loss" in m]
        if losses:
            now += f" · loss {losses[-1]:.4f}"
    else:
        now = "preparing: loading the base model, pre-flight checks"
    return f'<div class="progress run-running"><b>{head}</b> · {escape(now)}</div>'


def ablation_phase(run: dict, progress: dict | None) -> str:
    """Where an ablation is: which of its steps (each variant trained, then the base and each benchmarked) runs
    now, with the training variant's step; or its outcome."""
    head = f"Run {run['run_id']} · ablation · {escape(run['status'])} · {_duration(run)}"
    if run["status"] != "running":
        return f'<div class="progress run-{escape(run["status"])}"><b>{head}</b></div>'
    if progress is None:
        return f'<div class="progress run-running"><b>{head}</b> · preparing</div>'
    done, total = progress["done"], progress["total"]
    now = f"step {done + 1} of {total}: {progress['now']}" if done < total else "writing the table"
    bar = progress.get("bar")
    if bar and bar[0] == "progress":
        now += f" (training step {bar[1]} of {bar[2]})"
    return f'<div class="progress run-running"><b>{head}</b> · {escape(now)}</div>'


def ablation_frame(table: dict) -> pd.DataFrame:
    return pd.DataFrame(ablate.table_rows(table), columns=list(ablate.HEAD))


def ablation_heading(table: dict) -> str:
    split = ablate.tasks_label(table["tasks"], table.get("split"))
    return f"#### Ablation: the base and every variant on the same {split}"


def shown_run(runs: list[dict], run_id: int | None) -> dict | None:
    """The run the tab shows: the one picked, else the running one, else the latest."""
    picked = next((r for r in runs if r["run_id"] == run_id), None)
    return picked or next((r for r in runs if r["status"] == "running"), runs[0] if runs else None)


def screen_stamp(runs: list[dict], run: dict | None) -> dict:
    """What the screen shows, as a value that changes when anything shown would: the runs and their
    statuses, the run shown, and the sizes of its followed files (`follow.stamp`)."""
    running = run is not None and run["status"] == "running"
    return {
        "runs": [[r["run_id"], r["status"]] for r in runs],
        "run": run["run_id"] if run else None,
        "files": list(follow.stamp(run["folder"])) if run else None,
        "ablation": ablation_progress(run["folder"]) if running else None,  # None for a single run
    }


def details_html(run: dict) -> str:
    job = job_of_run(run)
    preset = get_preset(job.preset) if job.preset in PRESETS else TrainConfig()
    changed = [f"{k} {_text(v)}" for k, v in vars(job.config).items() if v != getattr(preset, k)]
    rows = [
        ("created", f"{run['created_at']:%Y-%m-%d %H:%M:%S} by {run['created_by']}"),
        ("base", base_name(job.base)),
        ("preset", job.preset or "-"),
        *(
            [("ablation of", ", ".join(job.ablate))]
            if job.ablate
            else [("stages", ", ".join(job.config.stages))]
        ),
        ("max steps", job.config.max_steps or "the epochs decide"),
        ("changed from the preset", ", ".join(changed) or "nothing"),
        ("eval tasks", "all" if job.eval_tasks is None else job.eval_tasks),
        ("benchmark every epoch", job.config.eval_each_epoch or "off"),
        ("folder", run["folder"]),
        ("process", run["pid"]),
        ("adapter", _result(run).get("adapter", "-")),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    error = f'<pre class="txt run-error">{escape(run["error"])}</pre>' if run["error"] else ""
    return f'<table class="run-config">{cells}</table>{error}'


def _shown(metric: str, value) -> str:
    if value is None:
        return "n/a"  # no denominator: e.g. no tool call attempted
    return f"{value:.2f}" if metric == "mean_steps" else f"{value:.0%}"


def metrics_table(evaluation: dict) -> pd.DataFrame:
    sides = [s for s in ("base", "tuned") if evaluation.get(s)]
    rows = [[m.replace("_", " "), *[_shown(m, evaluation[s].get(m)) for s in sides]] for m in METRICS]
    counts = [evaluation[s].get("counts") or {} for s in sides]  # the figures behind the rates
    rows.append(["tasks solved", *[f"{c.get('solved', 0)} of {c.get('tasks', 0)}" for c in counts]])
    rows.append(["tool calls valid", *[f"{c.get('valid', 0)} of {c.get('attempted', 0)}" for c in counts]])
    return pd.DataFrame(rows, columns=["metric", *sides])


def metrics_figure(evaluation: dict) -> Figure:
    """The rates (mean steps is not one), base and tuned side by side per metric."""
    rates = [m for m in METRICS if m != "mean_steps"]
    fig = Figure(figsize=(6.0, 3.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for k, side in enumerate(s for s in ("base", "tuned") if evaluation.get(s)):
        values = [evaluation[side].get(m) for m in rates]
        ax.bar(
            [i + 0.4 * k for i in range(len(rates))],
            [v or 0 for v in values],
            width=0.4,
            label=side,
            color=SIDE_COLORS[side],
        )
        for i, v in enumerate(values):
            if v is None:  # no denominator: say so rather than draw a zero
                ax.text(i + 0.4 * k, 0.02, "n/a", ha="center", fontsize=8, alpha=0.7)
    ax.set_xticks([i + 0.2 for i in range(len(rates))], [m.replace("_", " ") for m in rates], fontsize=8)
    ax.set(ylim=(0, 1), title="Rates, base vs tuned")
    ax.title.set_fontsize(10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def episode_turns(episode: dict) -> tuple[list[Turn], list[dict]]:
    """A harness transcript as turns and flags, so the review screen's step cards show it."""
    turns, flags = [Turn("user", episode["instruction"])], []
    for s in episode["steps"]:
        calls = [c for c in s["calls"] if c["valid"]]
        turns.append(
            Turn(
                "assistant",
                content=s["final"] or "",
                thought="" if s["final"] is not None else s["thought"] or "",
                tool_calls=tuple(ToolCall(c["name"], c["arguments"]) for c in calls),
                raw=s["raw"],
            )
        )
        for c in s["calls"]:
            turns.append(
                Turn(
                    "tool",
                    json.dumps(c["result"], ensure_ascii=False),
                    name=c["name"] if c["valid"] else None,
                )
            )
            if not c["valid"]:
                flags.append({"check": "invalid_call", "step": s["step"], "message": c["error"]})
            elif not c["known"]:
                flags.append(
                    {
                        "check": "unknown_tool",
                        "step": s["step"],
                        "message": f"{c['name']} is not an offered tool",
                    }
                )
            elif c["schema_problems"]:
                flags.append(
                    {
                        "check": "schema",
                        "step": s["step"],
                        "message": "; ".join(map(str, c["schema_problems"])),
                    }
                )
    return turns, flags


def transcripts_html(evaluation: dict | None, task_id: str | None) -> str:
    """Base and tuned transcripts of one task side by side."""
    if not evaluation or not task_id:
        return ""
    cells, heads = [], []
    for side in ("base", "tuned"):
        episode = next(
            (e for e in (evaluation.get(side) or {}).get("transcripts", []) if e["task_id"] == task_id), None
        )
        if episode is None:
            heads.append(f"<div>{side}: not run</div>")
            cells.append("<div></div>")
            continue
        n = episode["steps_taken"]
        outcome = (
            "solved"
            if episode["success"]
            else OUTCOMES.get(episode["stopped"], f"failed ({episode['stopped']})")
        )
        heads.append(
            f'<div class="side-{side}">{side}: {escape(outcome)} · {n} step{"" if n == 1 else "s"}</div>'
        )
        turns, flags = episode_turns(episode)
        cells.append(f'<div class="cmp-cell">{render.trajectory_html(0, 0, turns, flags)}</div>')
    return (
        f'<div class="compare transcripts" data-task="{escape(task_id)}">'
        f'<div class="cmp-row cmp-head">{"".join(heads)}</div>'
        f'<div class="cmp-row">{"".join(cells)}</div></div>'
    )


def task_choices(evaluation: dict | None) -> list[tuple[str, str]]:
    if not evaluation:
        return []
    solved = {
        side: {e["task_id"]: e["success"] for e in (evaluation.get(side) or {}).get("transcripts", [])}
        for side in ("base", "tuned")
    }
    mark = {True: "✓", False: "✗", None: "-"}
    return [
        (f"{t}  base {mark[solved['base'].get(t)]} · tuned {mark[solved['tuned'].get(t)]}", t)
        for t in evaluation.get("task_ids", [])
    ]


def more_settings() -> dict[str, gr.Textbox]:
    """One box per other TrainConfig field, labelled with its help text; empty: the preset's value."""
    boxes = {}
    with gr.Accordion("more settings (empty: the preset's value)", open=False, elem_id="tr-more"):
        for start in range(0, len(MORE), 4):
            with gr.Row():
                for name, shown in zip(
                    MORE[start : start + 4], placeholders("cpu-demo")[start : start + 4], strict=True
                ):
                    boxes[name] = gr.Textbox(
                        label=name.replace("_", " "),
                        info=help_of(name) + (" (true or false)" if field_type(name) is bool else ""),
                        placeholder=shown,
                        elem_id=f"tr-{name.replace('_', '-')}",
                    )
    return boxes


@dataclass
class TrainForm:
    """The form: a run's settings and the buttons that start and cancel one."""

    base: gr.Textbox
    preset: gr.Dropdown
    stages: gr.CheckboxGroup
    max_steps: gr.Textbox
    eval_tasks: gr.Number
    each_epoch: gr.Checkbox
    ablation: gr.Checkbox
    variants: gr.Textbox
    more: dict[str, gr.Textbox]
    train: gr.Button
    cancel: gr.Button

    def inputs(self) -> set:
        return {
            self.base,
            self.preset,
            self.stages,
            self.max_steps,
            self.eval_tasks,
            self.each_epoch,
            self.ablation,
            self.variants,
            *self.more.values(),
        }

    def job(self, values: dict) -> Job:
        """The form's values (keyed by component) as a Job; raises StoreError as `job_of` does."""
        return job_of(
            values[self.base],
            values[self.preset],
            values[self.stages],
            values[self.max_steps],
            values[self.eval_tasks],
            values[self.each_epoch],
            {name: values[box] for name, box in self.more.items()},
            values[self.ablation],
            values[self.variants],
        )


@dataclass
class LiveView:
    """The run shown as it goes: which run, where it is, its curves, its log and its settings."""

    pick: gr.Dropdown
    phase: gr.HTML
    plots: list[gr.Plot]  # loss, DPO margins, task success per epoch: the order of `plots`
    log: gr.Textbox
    details: gr.HTML


@dataclass
class ResultsView:
    """The run's evaluation: base vs tuned figures and the transcripts of one task."""

    column: gr.Column
    table: gr.Dataframe
    bars: gr.Plot
    task: gr.Dropdown
    transcripts: gr.HTML


@dataclass
class AblationView:
    """A finished ablation: one table and one chart, the base and every variant."""

    column: gr.Column
    heading: gr.Markdown
    table: gr.Dataframe
    chart: gr.Plot


@dataclass
class TrainView:
    tab: gr.Tab
    form: TrainForm
    message: gr.HTML
    runs: gr.Dataframe
    live: LiveView
    results: ResultsView
    ablation: AblationView
    timer: gr.Timer
    shown: gr.State  # the `screen_stamp` of what is on screen: a tick redraws only what changed

    def outputs(self) -> list:
        """Everything `TrainHandlers.view` draws."""
        live, results = self.live, self.results
        return [
            self.runs,
            live.pick,
            live.phase,
            *live.plots,
            live.log,
            live.details,
            results.column,
            results.table,
            results.bars,
            results.task,
            results.transcripts,
            self.ablation.column,
            self.ablation.heading,
            self.ablation.table,
            self.ablation.chart,
            self.timer,
            self.shown,
        ]


def _form() -> TrainForm:
    with gr.Row():
        base = gr.Textbox(
            label="base model (Hugging Face id or folder)",
            placeholder=f"empty: {DEFAULT_BASE}",
            elem_id="tr-base",
            scale=3,
        )
        preset = gr.Dropdown(list(PRESETS), value="cpu-demo", label="preset", elem_id="tr-preset")
        stages = gr.CheckboxGroup(
            list(STAGES), value=["sft", "dpo"], label="stages", info=help_of("stages"), elem_id="tr-stages"
        )
    with gr.Row():
        max_steps = gr.Textbox(
            label="max steps", info=help_of("max_steps"), placeholder="unset", elem_id="tr-max-steps"
        )
        eval_tasks = gr.Number(
            label=f"held-out eval tasks, base vs tuned after training (0: none; all: {len(EVAL_TASKS)})",
            precision=0,
            value=len(EVAL_TASKS),
            minimum=0,
            maximum=len(EVAL_TASKS),
            elem_id="tr-eval-tasks",
        )
        each_epoch = gr.Checkbox(
            label="benchmark after every epoch (on the eval tasks)",
            info=help_of("eval_each_epoch"),
            elem_id="tr-each-epoch",
        )
    with gr.Row():
        ablation = gr.Checkbox(
            label="ablation: train each variant instead (the stages above are not used), then benchmark the "
            "base and every variant on the same eval tasks",
            elem_id="tr-ablation",
        )
        variants = gr.Textbox(
            value="sft,sft+dpo,sft+kto",
            label="variants (stages joined by +, variants by commas)",
            elem_id="tr-variants",
            scale=2,
        )
    more = more_settings()
    with gr.Row():
        train = gr.Button("Train", variant="primary", elem_id="tr-train")
        cancel = gr.Button("Cancel run", variant="stop", elem_id="tr-cancel")
    return TrainForm(
        base, preset, stages, max_steps, eval_tasks, each_epoch, ablation, variants, more, train, cancel
    )


def _runs_table() -> gr.Dataframe:
    return gr.Dataframe(
        headers=RUN_COLUMNS,
        interactive=False,
        wrap=True,
        column_widths=RUN_WIDTHS,
        label="runs (click a row)",
        elem_id="tr-runs",
    )


def _live_view() -> LiveView:
    with gr.Row():
        pick = gr.Dropdown(
            label="run shown", choices=[], value=None, elem_id="tr-pick", scale=0, min_width=240
        )
        phase_box = gr.HTML(elem_id="tr-phase", js_on_load=None)
    with gr.Row():
        plots_shown = [
            gr.Plot(show_label=False, format="png", elem_id="tr-loss"),
            gr.Plot(show_label=False, format="png", elem_id="tr-margins"),
            gr.Plot(show_label=False, format="png", visible=False, elem_id="tr-epochs"),
        ]
    with gr.Row():
        log = gr.Textbox(
            label="log (last lines)",
            lines=LOG_LINES,
            max_lines=LOG_LINES,
            autoscroll=True,
            interactive=False,
            elem_id="tr-log",
            scale=3,
        )
        details = gr.HTML(elem_id="tr-details", js_on_load=None)
    return LiveView(pick, phase_box, plots_shown, log, details)


def _results_view() -> ResultsView:
    with gr.Column(visible=False, elem_id="tr-results") as column:
        gr.Markdown("#### Evaluation: base vs tuned on the held-out tasks")
        with gr.Row():
            table = gr.Dataframe(interactive=False, elem_id="tr-eval")
            bars = gr.Plot(show_label=False, format="png", elem_id="tr-eval-bars")
        task = gr.Dropdown(label="task (✓ solved, ✗ failed)", choices=[], elem_id="tr-task")
        transcripts = gr.HTML(elem_id="tr-transcripts", js_on_load=None)
    return ResultsView(column, table, bars, task, transcripts)


def _ablation_view() -> AblationView:
    with gr.Column(visible=False, elem_id="tr-ablation-results") as column:
        heading = gr.Markdown()
        table = gr.Dataframe(interactive=False, elem_id="tr-ablation-table")
        chart = gr.Plot(show_label=False, format="png", elem_id="tr-ablation-chart")
    return AblationView(column, heading, table, chart)


def _layout() -> TrainView:
    with gr.Tab("Train", id="train", elem_id="train-pane") as tab:
        form = _form()
        message = gr.HTML(elem_id="tr-message", js_on_load=None)
        runs = _runs_table()
        live = _live_view()
        results = _results_view()
        ablation = _ablation_view()
        timer = gr.Timer(POLL_S, active=False)
        shown = gr.State(None)
    return TrainView(tab, form, message, runs, live, results, ablation, timer, shown)


class TrainHandlers:
    def __init__(self, ctx: TabContext, view: TrainView):
        self.ctx, self.view = ctx, view

    def _plots(self, metrics: list[dict], drawn: list[int] | None = None) -> dict:
        return {self.view.live.plots[i]: update for i, update in plots(metrics, drawn).items()}

    def _no_run(self) -> dict:
        v, live, results = self.view, self.view.live, self.view.results
        return {
            live.pick: gr.Dropdown(choices=[], value=None),
            v.runs: runs_table([]),
            live.phase: '<div class="progress">No runs yet: set the options and press Train.</div>',
            live.details: "",
            live.log: "",
            **self._plots([]),
            results.column: gr.Column(visible=False),
            results.table: None,
            results.bars: None,
            results.task: gr.Dropdown(choices=[], value=None),
            results.transcripts: "",
            **self._ablation(None),
            v.timer: gr.Timer(active=False),
            v.shown: None,
        }

    def _ablation(self, table: dict | None) -> dict:
        a = self.view.ablation
        if table is None:
            return {a.column: gr.Column(visible=False), a.heading: "", a.table: None, a.chart: None}
        return {
            a.column: gr.Column(visible=True),
            a.heading: ablation_heading(table),
            a.table: ablation_frame(table),
            a.chart: ablate.figure(table),
        }

    def _phase(self, run: dict, metrics: list[dict], log_view: LogView) -> str:
        if job_of_run(run).ablate:
            running = run["status"] == "running"
            return ablation_phase(run, ablation_progress(run["folder"]) if running else None)
        return phase(run, metrics, log_view)

    def view_run(self, run_id: int | None) -> dict:
        """The whole view of the run `run_id` (default: the running or latest one)."""
        v, live, results = self.view, self.view.live, self.view.results
        all_runs = self.ctx.bench.runs()
        run = shown_run(all_runs, run_id)
        if run is None:
            return self._no_run()
        metrics = follow.metrics(run["folder"])
        log_text, log_view = follow.log(run["folder"], LOG_LINES)
        evaluation = read_evaluation(run["folder"]) if run["evaluation"] else None
        is_ablation = job_of_run(run).ablate is not None
        table = read_ablation(run["folder"]) if is_ablation and run["status"] == "succeeded" else None
        shown_plots = (
            {plot: gr.Plot(None, visible=False) for plot in live.plots}
            if is_ablation
            else self._plots(metrics)
        )
        tasks = task_choices(evaluation)
        first = tasks[0][1] if tasks else None
        choices = [(f"run {r['run_id']} ({r['status']})", r["run_id"]) for r in all_runs]
        return {
            live.pick: gr.Dropdown(choices=choices, value=run["run_id"]),
            v.runs: runs_table(all_runs),
            live.phase: self._phase(run, metrics, log_view),
            live.details: details_html(run),
            live.log: log_text,
            **shown_plots,
            results.column: gr.Column(visible=evaluation is not None),
            results.table: metrics_table(evaluation) if evaluation else None,
            results.bars: metrics_figure(evaluation) if evaluation else None,
            results.task: gr.Dropdown(choices=tasks, value=first),
            results.transcripts: transcripts_html(evaluation, first),
            **self._ablation(table),
            v.timer: gr.Timer(active=any(r["status"] == "running" for r in all_runs)),
            v.shown: {**screen_stamp(all_runs, run), "curves": curve_sizes(metrics)},
        }

    def on_tick(self, run_id, on_screen) -> dict:
        """While a run runs: redraw only what changed since the last tick. Nothing new (the common case
        while a step trains): no update at all. A run started or ended: the whole view. New lines in the
        run's folder: the phase and log, and only the plots whose curve grew."""
        all_runs = self.ctx.bench.runs()
        run = shown_run(all_runs, run_id)
        now = screen_stamp(all_runs, run)
        if now == {k: v for k, v in (on_screen or {}).items() if k != "curves"}:
            return {self.view.shown: gr.skip()}
        if (
            run is None
            or on_screen is None
            or (now["runs"], now["run"]) != (on_screen["runs"], on_screen["run"])
        ):
            return self.view_run(run_id)
        metrics = follow.metrics(run["folder"])
        log_text, log_view = follow.log(run["folder"], LOG_LINES)
        now["curves"] = curve_sizes(metrics)  # what the plots below bring the screen to
        live = self.view.live
        log_changed = now["files"][1] != on_screen["files"][1]
        return {
            live.phase: self._phase(run, metrics, log_view),
            **({live.log: log_text} if log_changed else {}),
            **self._plots(metrics, drawn=on_screen.get("curves")),
            self.view.shown: now,
        }

    def on_train(self, values: dict, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (Gradio injects it)
        try:
            job = self.view.form.job(values)
            run_id = self.ctx.bench.start_run(
                job,
                self.ctx.who(request),
                self.ctx.runs_root,
                lambda f, text: progress(f, desc=f"export: {text}"),
            )
        except (StoreError, ExportError) as exc:
            return {self.view.message: render.err(str(exc))}
        started = f"Run {run_id} started: exported the curated set, training in a separate process."
        return {self.view.message: render.ok(started), **self.view_run(run_id)}

    def on_cancel(self, run_id) -> dict:
        running = [r["run_id"] for r in self.ctx.bench.runs() if r["status"] == "running"]
        if not running:
            return {self.view.message: render.err("No run is running."), **self.view_run(run_id)}
        try:
            self.ctx.bench.cancel_run(running[0])
        except StoreError as exc:
            return {self.view.message: render.err(str(exc)), **self.view_run(run_id)}
        return {self.view.message: render.ok(f"Run {running[0]} cancelled."), **self.view_run(running[0])}

    def on_select(self, evt: gr.SelectData) -> dict:
        return self.view_run(int(evt.row_value[0]))

    def on_task(self, run_id, task_id) -> str:
        folder = next((r["folder"] for r in self.ctx.bench.runs() if r["run_id"] == run_id), None)
        return transcripts_html(read_evaluation(folder) if folder else None, task_id)

    def on_other_tab(self, evt: gr.SelectData):
        """Another tab chosen: stop polling, so nobody looking costs the run nothing (coming back to this tab
        restarts it through `view_run`)."""
        tab = self.view.tab
        return gr.skip() if evt.value == tab.label or evt.index == tab.id else gr.Timer(active=False)

    def wire(self) -> None:
        v, form, live = self.view, self.view.form, self.view.live
        outputs, hidden = v.outputs(), {"show_progress": "hidden"}
        form.train.click(self.on_train, form.inputs(), [v.message, *outputs], concurrency_limit=1)
        more = list(form.more.values())
        form.preset.change(
            lambda p: [gr.Textbox(placeholder=t) for t in placeholders(p)], [form.preset], more
        )
        form.cancel.click(self.on_cancel, [live.pick], [v.message, *outputs], **hidden)
        v.timer.tick(self.on_tick, [live.pick, v.shown], outputs, **hidden)
        live.pick.input(self.view_run, [live.pick], outputs, **hidden)
        v.runs.select(self.on_select, None, outputs, **hidden)
        v.results.task.input(self.on_task, [live.pick, v.results.task], [v.results.transcripts], **hidden)
        v.tab.select(self.view_run, [live.pick], outputs, **hidden)
        if isinstance(v.tab.parent, gr.Tabs):
            v.tab.parent.select(self.on_other_tab, None, [v.timer], **hidden)


def build(ctx: TabContext) -> None:
    """The Train tab inside the app's Tabs. Opening the tab shows the running run, else the latest:
    after a reload too."""
    TrainHandlers(ctx, _layout()).wire()
