"""The Generate tab: a teacher runs an environment's tasks in a separate process (`curator.genjobs`); its episodes
come into the store, and so the Review queue, as they finish, with the checker's label as a suggestion.

The form is `curator generate`'s options (`GenerateConfig`, read by `genjobs.form_config`). The job shown comes from
the store (`generation_jobs`) and its folder (progress, log), so a reload or a second reviewer sees the same job. A
`gr.Timer` redraws it while a job runs and this tab is shown, only when something changed; bringing the episodes
in does not depend on it (the app's `genjobs.Importer` does that whichever tab is open).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

import gradio as gr
import pandas as pd

from curator import follow
from curator.app import render
from curator.app.context import TabContext
from curator.errors import CuratorError
from curator.generate import EMBEDDED, KEEP, GenerateConfig, help_of
from curator.genjobs import TEACHERS, form_config, read_progress

POLL_S = 2.0
LOG_LINES = 12
BUILT_IN = ["sample", "sql"]
JOB_COLUMNS = [
    "id",
    "created",
    "by",
    "environment",
    "teacher",
    "status",
    "episodes",
    "stored",
    "success rate",
]


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _duration(job: dict) -> str:
    end = job["finished_at"] or datetime.now()
    seconds = max(0, int((end - job["created_at"]).total_seconds()))
    return f"{seconds // 60}m {seconds % 60:02d}s"


def jobs_table(jobs: list[dict]) -> pd.DataFrame:
    rows = []
    for j in jobs:
        config, progress = json.loads(j["config"]), read_progress(j["folder"]) or {}
        episodes = progress.get("episodes", 0)
        rows.append(
            [
                j["job_id"],
                f"{j['created_at']:%m-%d %H:%M}",
                j["created_by"],
                Path(config["env"]).name,
                config["teacher_model"] or config["teacher"],
                j["status"],
                f"{episodes} of {progress.get('total', '?')}",
                j["stored"],
                _rate(progress.get("success", 0), episodes),
            ]
        )
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def shown_job(jobs: list[dict], job_id: int | None) -> dict | None:
    """The job the tab shows: the one picked, else the running one, else the latest."""
    picked = next((j for j in jobs if j["job_id"] == job_id), None)
    return picked or next((j for j in jobs if j["status"] == "running"), jobs[0] if jobs else None)


def phase_html(job: dict, progress: dict | None) -> str:
    """One line: the job, its status and time, how far it is."""
    head = f"Job {job['job_id']} · {escape(job['status'])} · {_duration(job)}"
    if progress is None:
        now = "starting: loading the environment, reaching the teacher"
    else:
        finished = progress["episodes"] + progress["errors"]
        now = f"{finished} of {progress['total']} episodes"
    return f'<div class="progress run-{escape(job["status"])}"><b>{head}</b> · {escape(now)}</div>'


def summary_html(job: dict, progress: dict | None) -> str:
    """The counts: episodes by checker label, what was kept and stored, what the teacher failed on."""
    p = progress or {"total": 0, "episodes": 0, "success": 0, "failure": 0, "discarded": 0, "errors": 0}
    kept = p["episodes"] - p["discarded"]
    rows = [
        ("episodes", f"{p['episodes']} finished of {p['total']}"),
        (
            "checker",
            f"{p['success']} success · {p['failure']} failure · "
            f"success rate {_rate(p['success'], p['episodes'])}",
        ),
        ("kept", f"{kept}" + (f" · failures not kept: {p['discarded']}" if p["discarded"] else "")),
        (
            "in the store",
            f"{job['stored']} new trajectories (pending review) · {job['duplicates']} already there",
        ),
        (
            "failed episodes",
            f"{p['errors']} (the teacher's errors; a new job with these settings retries them)",
        ),
    ]
    errors = json.loads(job["summary"])["errors"] if job["summary"] else []
    rows += [(f"task {e['task_id']} #{e['sample']}", e["reason"]) for e in errors[:5]]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="run-config gen-summary">{cells}</table>'


def details_html(job: dict) -> str:
    config = GenerateConfig(**json.loads(job["config"]))
    rows = [
        ("created", f"{job['created_at']:%Y-%m-%d %H:%M:%S} by {job['created_by']}"),
        ("environment", config.env),
        ("tasks", f"{config.task_file or 'its own'} · {config.split} · {config.limit or 'all'}"),
        ("teacher", config.teacher_name),
        ("endpoint", config.teacher if config.remote else "- (local model)"),
        ("samples", config.samples),
        ("temperature", config.temperature),
        ("keep", config.keep),
        ("max steps, tokens", f"{config.max_steps} steps, {config.max_tokens} tokens"),
        ("folder", job["folder"]),
        ("process", job["pid"]),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    error = f'<pre class="txt run-error">{escape(job["error"])}</pre>' if job["error"] else ""
    return f'<table class="run-config">{cells}</table>{error}'


def screen_stamp(jobs: list[dict], job: dict | None) -> dict:
    """A value that changes when anything the tab shows would: the jobs, their counts, the shown job's files."""
    return {
        "jobs": [[j["job_id"], j["status"], j["stored"], j["duplicates"]] for j in jobs],
        "job": job["job_id"] if job else None,
        "progress": read_progress(job["folder"]) if job else None,
        "log": follow.stamp(job["folder"])[1] if job else None,
    }


@dataclass
class GenerateForm:
    """The options (GenerateConfig fields by name), the teacher's boxes and the buttons."""

    fields: dict[str, gr.components.Component]
    teacher: gr.Radio
    endpoint: gr.Textbox
    model: gr.Textbox
    local: gr.Textbox
    start: gr.Button
    cancel: gr.Button

    def inputs(self) -> set:
        return {*self.fields.values(), self.teacher, self.endpoint, self.model, self.local}

    def config(self, values: dict) -> GenerateConfig:
        """The form's values (keyed by component) as a config; raises GenerateError (one line)."""
        return form_config(
            {name: values[box] for name, box in self.fields.items()},
            values[self.teacher],
            values[self.endpoint],
            values[self.model],
            values[self.local],
        )


@dataclass
class GenerateView:
    tab: gr.Tab
    form: GenerateForm
    message: gr.HTML
    phase: gr.HTML
    summary: gr.HTML
    log: gr.Textbox
    details: gr.HTML
    jobs: gr.Dataframe
    timer: gr.Timer
    picked: gr.State  # the job id a click on the table chose (None: the running or latest job)
    shown: gr.State  # the `screen_stamp` of what is on screen

    def outputs(self) -> list:
        return [self.phase, self.summary, self.log, self.details, self.jobs, self.timer, self.shown]


def _number(name: str, label: str, **kw) -> gr.Number:
    default = GenerateConfig.__dataclass_fields__[name].default
    return gr.Number(
        value=default, label=label, info=help_of(name), elem_id=f"gen-{name.replace('_', '-')}", **kw
    )


def _form() -> GenerateForm:
    with gr.Row():
        env = gr.Dropdown(
            BUILT_IN,
            value="sample",
            allow_custom_value=True,
            label="environment",
            info=help_of("env"),
            elem_id="gen-env",
        )
        task_file = gr.Textbox(
            label="task file (optional)", info=help_of("task_file"), elem_id="gen-task-file"
        )
        split = gr.Radio(["train", "eval"], value="train", label="split", elem_id="gen-split")
        limit = gr.Textbox(
            label="tasks", info=help_of("limit"), placeholder="all of the split", elem_id="gen-tasks"
        )
    with gr.Row():
        teacher = gr.Radio(list(TEACHERS), value=TEACHERS[0], label="teacher", elem_id="gen-teacher", scale=0)
        endpoint = gr.Textbox(
            label="endpoint URL (OpenAI-compatible; key from OPENAI_API_KEY)",
            placeholder="http://127.0.0.1:8000/v1",
            elem_id="gen-url",
        )
        model = gr.Textbox(label="model name at the endpoint", elem_id="gen-model")
        local = gr.Textbox(
            label="local model",
            placeholder=f"empty: {EMBEDDED}, the embedded SmolLM2 · a Hugging Face id or folder · an adapter folder",
            visible=False,
            elem_id="gen-local",
        )
    with gr.Row():
        samples = _number("samples", "samples K per task", precision=0, minimum=1)
        temperature = _number("temperature", "temperature", minimum=0)
        keep = gr.Radio(
            [("keep all", KEEP[0]), ("successes only", KEEP[1])],
            value=KEEP[0],
            label="keep",
            info=help_of("keep"),
            elem_id="gen-keep",
        )
        concurrency = _number("concurrency", "concurrency", precision=0, minimum=1)
    with gr.Accordion("more settings", open=False), gr.Row():
        max_steps = _number("max_steps", "max steps", precision=0, minimum=1)
        max_tokens = _number("max_tokens", "max tokens", precision=0, minimum=1)
        seed = _number("seed", "seed", precision=0)
    with gr.Row():
        start = gr.Button("Generate", variant="primary", elem_id="gen-start")
        cancel = gr.Button("Cancel job", variant="stop", elem_id="gen-cancel")
    fields = {
        "env": env,
        "task_file": task_file,
        "split": split,
        "limit": limit,
        "samples": samples,
        "temperature": temperature,
        "keep": keep,
        "concurrency": concurrency,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "seed": seed,
    }
    return GenerateForm(fields, teacher, endpoint, model, local, start, cancel)


def _layout() -> GenerateView:
    with gr.Tab("Generate", id="generate", elem_id="generate-pane") as tab:
        form = _form()
        message = gr.HTML(elem_id="gen-message", js_on_load=None)
        phase = gr.HTML(elem_id="gen-phase", js_on_load=None)
        with gr.Row():
            summary = gr.HTML(elem_id="gen-summary", js_on_load=None)
            details = gr.HTML(elem_id="gen-details", js_on_load=None)
        log = gr.Textbox(
            label="log (last lines)",
            lines=LOG_LINES,
            max_lines=LOG_LINES,
            autoscroll=True,
            interactive=False,
            elem_id="gen-log",
        )
        jobs = gr.Dataframe(
            headers=JOB_COLUMNS, interactive=False, wrap=True, label="jobs (click a row)", elem_id="gen-jobs"
        )
        timer = gr.Timer(POLL_S, active=False)
    return GenerateView(
        tab, form, message, phase, summary, log, details, jobs, timer, gr.State(None), gr.State(None)
    )


class GenerateHandlers:
    def __init__(self, ctx: TabContext, view: GenerateView):
        self.ctx, self.view = ctx, view

    def view_job(self, job_id: int | None) -> dict:
        """The whole view of job `job_id` (default: the running or latest one)."""
        v = self.view
        jobs = self.ctx.bench.generation_jobs()
        job = shown_job(jobs, job_id)
        if job is None:
            return {
                v.phase: '<div class="progress">No generation jobs yet: set the options and press Generate.</div>',
                v.summary: "",
                v.log: "",
                v.details: "",
                v.jobs: jobs_table([]),
                v.timer: gr.Timer(active=False),
                v.shown: None,
            }
        progress = read_progress(job["folder"])
        return {
            v.phase: phase_html(job, progress),
            v.summary: summary_html(job, progress),
            v.log: follow.log(job["folder"], LOG_LINES)[0],
            v.details: details_html(job),
            v.jobs: jobs_table(jobs),
            v.timer: gr.Timer(active=any(j["status"] == "running" for j in jobs)),
            v.shown: screen_stamp(jobs, job),
        }

    def on_tick(self, job_id, on_screen) -> dict:
        """While a job runs: redraw only when something shown changed."""
        jobs = self.ctx.bench.generation_jobs()
        if screen_stamp(jobs, shown_job(jobs, job_id)) == on_screen:
            return {self.view.shown: gr.skip()}
        return self.view_job(job_id)

    def on_start(self, values: dict, request: gr.Request) -> dict:
        try:
            config = self.view.form.config(values)
            job_id = self.ctx.bench.start_generation(config, self.ctx.who(request), self.ctx.runs_root)
        except CuratorError as exc:
            return {self.view.message: render.err(str(exc))}
        started = (
            f"Job {job_id} started: the teacher runs in a separate process; its episodes come into the "
            "Review queue as they finish."
        )
        return {self.view.message: render.ok(started), self.view.picked: None, **self.view_job(job_id)}

    def on_cancel(self, job_id) -> dict:
        running = [j["job_id"] for j in self.ctx.bench.generation_jobs() if j["status"] == "running"]
        if not running:
            return {self.view.message: render.err("No generation job is running."), **self.view_job(job_id)}
        try:
            self.ctx.bench.cancel_generation(running[0])
        except CuratorError as exc:
            return {self.view.message: render.err(str(exc)), **self.view_job(job_id)}
        done = f"Job {running[0]} cancelled; the episodes it finished are in the store."
        return {self.view.message: render.ok(done), **self.view_job(running[0])}

    def on_select(self, evt: gr.SelectData) -> dict:
        job_id = int(evt.row_value[0])
        return {self.view.picked: job_id, **self.view_job(job_id)}

    def on_other_tab(self, evt: gr.SelectData):
        """Another tab chosen: stop polling (coming back restarts it through `view_job`)."""
        tab = self.view.tab
        return gr.skip() if evt.value == tab.label or evt.index == tab.id else gr.Timer(active=False)

    def wire(self) -> None:
        v, form = self.view, self.view.form
        outputs, hidden = v.outputs(), {"show_progress": "hidden"}
        form.start.click(self.on_start, form.inputs(), [v.message, v.picked, *outputs], concurrency_limit=1)
        form.cancel.click(self.on_cancel, [v.picked], [v.message, *outputs], **hidden)
        form.teacher.change(
            lambda kind: (
                [gr.Textbox(visible=kind == TEACHERS[0])] * 2 + [gr.Textbox(visible=kind != TEACHERS[0])]
            ),
            [form.teacher],
            [form.endpoint, form.model, form.local],
            **hidden,
        )
        v.timer.tick(self.on_tick, [v.picked, v.shown], outputs, **hidden)
        v.jobs.select(self.on_select, None, [v.picked, *outputs], **hidden)
        v.tab.select(self.view_job, [v.picked], outputs, **hidden)
        if isinstance(v.tab.parent, gr.Tabs):
            v.tab.parent.select(self.on_other_tab, None, [v.timer], **hidden)


def build(ctx: TabContext) -> None:
    """The Generate tab inside the app's Tabs. Opening it shows the running job, else the latest: after a reload
    too."""
    GenerateHandlers(ctx, _layout()).wire()
