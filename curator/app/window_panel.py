"""The Data tab's minimum training window panel: how many curated trajectories keep the gain.

"Minimum training window curve" exports the subsets here, in the app (the store's one writer: `curator.window`),
and starts the curve's job as a separate process (`python -m trainer.window`), which trains and benchmarks every
subset from those export folders. Everything shown is read from the curve's folder, never from the browser
session, so a reload or another reviewer sees the same curve, and a finished one is shown again after a restart.
A `gr.Timer` follows a running curve only while the Data tab is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import gradio as gr
import pandas as pd

from curator.app import render
from curator.app.context import TabContext
from curator.errors import CuratorError
from curator.window import cancel_curve, latest_curve, parse_fractions
from trainer.errors import TrainerError
from trainer.presets import PRESETS, parse_value
from trainer.window import curve_config, figure, summary_lines

POLL_S = 4.0
DEFAULT_PRESET = "cpu-smoke"
COLUMNS = ["subset", "trajectories", "task success", "valid calls", "train s", "peak MB", "eval s"]


def curve_settings(base, preset, fractions, epochs, max_steps, eval_tasks, seed) -> dict:
    """The form as `curator.window.prepare_curve`'s settings; raises CuratorError or TrainerError (one line)."""
    try:
        epochs = parse_value("epochs", str(epochs if epochs is not None else 1))
        steps = parse_value("max_steps", str(max_steps)) if str(max_steps or "").strip() else None
    except ValueError as exc:
        raise CuratorError(str(exc)) from None
    if epochs <= 0 or (steps is not None and steps < 1):
        raise CuratorError("epochs must be above 0 and max steps at least 1")
    return {
        "config": curve_config(preset or None, epochs, steps),
        "fractions": parse_fractions(fractions),
        "eval_tasks": int(eval_tasks) if eval_tasks not in (None, "") else None,
        "seed": int(seed or 0),
        "base": (base or "").strip() or None,
        "preset": preset or None,
    }


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def curve_table(result: dict) -> pd.DataFrame:
    """The base and every subset: trajectories, task success, valid calls, cost."""
    base = result["base"]
    rows = [
        ["base", 0, _pct(base["task_success"]), _pct(base["valid_tool_call_rate"]), "-", "-", base["eval_s"]]
    ]
    for r in result["runs"]:
        name = "all" if r["strategy"] == "all" else f"{r['strategy']} {r['fraction']:.0%}"
        rows.append(
            [
                name,
                r["trajectories"],
                _pct(r["task_success"]),
                _pct(r["valid_tool_call_rate"]),
                r["train_s"],
                r["peak_rss_mb"],
                r["eval_s"],
            ]
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def phase_html(state: dict | None) -> str:
    """One line on the latest curve: where it is, or its answer."""
    if state is None:
        return '<div class="progress" id="wc-none">No curve yet.</div>'
    head = f"{Path(state['folder']).name} · {state['status']}"
    if state["status"] == "running":
        p = state["progress"] or {}
        now = f"step {p['done'] + 1} of {p['total']}: {p['now']}" if p else "starting"
        if state["training"]:
            desc, n, total = state["training"]
            now += f" ({desc} {n} of {total})"
        return f'<div class="progress run-running"><b>{escape(head)}</b> · {escape(now)}</div>'
    if state["result"] is None:
        return f'<div class="progress run-{escape(state["status"])}"><b>{escape(head)}</b></div>'
    result = state["result"]
    answer = summary_lines(result)[-1]
    return (
        f'<div class="progress run-succeeded"><b>{escape(head)}</b> in {result["wall_s"] / 60:.1f} min · '
        f"{escape(answer)}</div>"
    )


@dataclass
class CurveView:
    base: gr.Textbox
    preset: gr.Dropdown
    fractions: gr.Textbox
    epochs: gr.Number
    max_steps: gr.Textbox
    eval_tasks: gr.Number
    seed: gr.Number
    start: gr.Button
    cancel: gr.Button
    message: gr.HTML
    phase: gr.HTML
    table: gr.Dataframe
    plot: gr.Plot
    log: gr.Textbox
    timer: gr.Timer

    def form(self) -> list:
        return [
            self.base,
            self.preset,
            self.fractions,
            self.epochs,
            self.max_steps,
            self.eval_tasks,
            self.seed,
        ]

    def outputs(self) -> list:
        return [self.phase, self.table, self.plot, self.log, self.timer]


def layout() -> CurveView:
    with gr.Accordion("Minimum training window: how many curated trajectories keep the gain", open=True):
        gr.Markdown(
            "Trains SFT on shares of the accepted set chosen by `diverse` and by `random` (same seed) and on the "
            "whole set, each in its own process, benchmarks each and the base on the same held-out tasks, and "
            "finds how many trajectories give 90% of the whole set's gain."
        )
        with gr.Row():
            base = gr.Textbox(
                label="base model", placeholder="SmolLM2-135M-Instruct (embedded default)", elem_id="wc-base"
            )
            preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="preset", elem_id="wc-preset")
            fractions = gr.Textbox(
                value="0.25,0.5", label="fractions (the whole set is always one)", elem_id="wc-fractions"
            )
            epochs = gr.Number(value=1.0, label="epochs over each subset", elem_id="wc-epochs")
        with gr.Row():
            max_steps = gr.Textbox(
                label="max steps per subset (empty: the epochs decide)", elem_id="wc-max-steps"
            )
            eval_tasks = gr.Number(value=20, precision=0, label="held-out tasks", elem_id="wc-eval-tasks")
            seed = gr.Number(value=0, precision=0, label="seed", elem_id="wc-seed")
            with gr.Column():
                start = gr.Button("Minimum training window curve", variant="primary", elem_id="wc-start")
                cancel = gr.Button("Cancel the curve", elem_id="wc-cancel")
        message = gr.HTML(elem_id="wc-message", js_on_load=None)
        phase = gr.HTML(elem_id="wc-phase", js_on_load=None)
        table = gr.Dataframe(label="Subsets", interactive=False, elem_id="wc-table")
        plot = gr.Plot(show_label=False, elem_id="wc-plot")
        log = gr.Textbox(label="log", lines=6, max_lines=12, interactive=False, elem_id="wc-log")
    timer = gr.Timer(POLL_S, active=False)
    return CurveView(
        base,
        preset,
        fractions,
        epochs,
        max_steps,
        eval_tasks,
        seed,
        start,
        cancel,
        message,
        phase,
        table,
        plot,
        log,
        timer,
    )


class CurveHandlers:
    def __init__(self, ctx: TabContext, view: CurveView, tab: gr.Tab):
        self.ctx, self.view, self.tab = ctx, view, tab

    def show(self, follow: bool = True) -> dict:
        """The latest curve; `follow`: poll it while it runs (only while the Data tab is shown)."""
        v, state = self.view, latest_curve(self.ctx.runs_root)
        result = state["result"] if state else None
        return {
            v.phase: phase_html(state),
            v.table: curve_table(result) if result else None,
            v.plot: figure(result) if result else None,
            v.log: state["log"] if state else "",
            v.timer: gr.Timer(active=follow and bool(state) and state["status"] == "running"),
        }

    def on_start(self, *values, progress=gr.Progress()):  # noqa: B008  (Gradio injects it)
        try:
            settings = curve_settings(*values)
            folder = self.ctx.bench.start_curve(
                self.ctx.runs_root, lambda f, text: progress(f, desc=f"export: {text}"), **settings
            )
        except (CuratorError, TrainerError) as exc:
            return {self.view.message: render.err(str(exc))}
        started = (
            f"Curve {folder.name} started: subsets exported, training and benchmarks in a separate process."
        )
        return {self.view.message: render.ok(started), **self.show()}

    def on_cancel(self) -> dict:
        try:
            folder = cancel_curve(self.ctx.runs_root)
        except CuratorError as exc:
            return {self.view.message: render.err(str(exc))}
        return {self.view.message: render.ok(f"Curve {folder.name} cancelled."), **self.show()}

    def on_load(self) -> dict:
        """A finished curve is shown again; a running one too, followed once the Data tab is chosen."""
        return self.show(follow=False)

    def on_other_tab(self, evt: gr.SelectData):
        """Another tab chosen: stop following (coming back to the Data tab starts it again)."""
        tab = self.tab
        return gr.skip() if evt.value == tab.label or evt.index == tab.id else gr.Timer(active=False)

    def wire(self) -> None:
        v, hidden = self.view, {"show_progress": "hidden"}
        v.start.click(self.on_start, v.form(), [v.message, *v.outputs()], concurrency_limit=1)
        v.cancel.click(self.on_cancel, None, [v.message, *v.outputs()], **hidden)
        v.timer.tick(self.show, None, v.outputs(), **hidden)
        self.tab.select(self.show, None, v.outputs(), **hidden)
        self.ctx.app.load(self.on_load, None, v.outputs(), **hidden)
        if isinstance(self.tab.parent, gr.Tabs):
            self.tab.parent.select(self.on_other_tab, None, [v.timer], **hidden)


def build(ctx: TabContext, tab: gr.Tab) -> None:
    """The panel inside the Data tab (call within its `gr.Tab`, then it wires itself)."""
    CurveHandlers(ctx, layout(), tab).wire()
