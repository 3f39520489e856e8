"""The Export tab: filters, a preview of the row counts, the export itself, recent exports."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from curator.app.context import TabContext
from curator.app.render import err, ok
from curator.errors import CuratorError
from curator.export import export_store, list_exports, preview_counts, resolve_export_dir
from curator.filters import ExportFilters, from_text
from curator.importers import FAMILY_BY_NAME

RECENT_COLUMNS = ["name", "created", "format", "sft", "dpo", "kto", "path"]
KINDS = ("sft", "dpo", "kto")


def export_filters(path, fmt, teacher, reviewer, since, until, chosen) -> ExportFilters:
    """The form's filter fields, read as the CLI reads its options (an empty field restricts
    nothing; a bare "until" date includes that whole day)."""
    return from_text(
        file=path,
        source_format=fmt,
        teacher=teacher,
        reviewer=reviewer,
        since=since,
        until=until,
        tags=chosen,
    )


def recent_table(exports: list[dict]) -> pd.DataFrame:
    rows = [
        [
            e["name"],
            e["created_at"],
            e["format"],
            *[sum((e["counts"] or {}).get(k, {}).values()) for k in KINDS],
            e["path"],
        ]
        for e in exports[:20]
    ]
    return pd.DataFrame(rows, columns=RECENT_COLUMNS)


def counts_table(counts: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [[k, counts[k]["train"], counts[k]["eval"]] for k in KINDS], columns=["file", "train", "eval"]
    )


def pairs_text(counts: dict) -> str:
    pairs = ", ".join(f"{v} {k}" for k, v in counts["pairs"].items())
    return f"Pairs by source: {pairs}; {counts['skipped']} skipped."


@dataclass
class ExportView:
    tab: gr.Tab
    filters: list  # the inputs of `export_filters`, in its order
    name: gr.Textbox
    out_format: gr.Radio
    eval_fraction: gr.Slider
    seed: gr.Number
    overwrite: gr.Checkbox
    preview_btn: gr.Button
    export_btn: gr.Button
    message: gr.HTML
    preview: gr.Dataframe
    recent: gr.Dataframe

    @property
    def tags(self) -> gr.Dropdown:
        return self.filters[-1]


def _filters_layout() -> list:
    with gr.Row():
        path = gr.Textbox(label="source file (glob)", elem_id="ex-file")
        fmt = gr.Dropdown(["", *FAMILY_BY_NAME], value="", label="source format", elem_id="ex-source-format")
        teacher = gr.Textbox(label="teacher", elem_id="ex-teacher")
        reviewer = gr.Textbox(label="reviewer", elem_id="ex-reviewer")
    with gr.Row():
        since = gr.Textbox(label="decided since (YYYY-MM-DD)", elem_id="ex-since")
        until = gr.Textbox(label="decided until (YYYY-MM-DD, that day included)", elem_id="ex-until")
        tags = gr.Dropdown(label="failure tags", multiselect=True, choices=[], elem_id="ex-tags")
    return [path, fmt, teacher, reviewer, since, until, tags]


def _layout() -> ExportView:
    with gr.Tab("Export", id="export", elem_id="export-pane") as tab:
        filters = _filters_layout()
        with gr.Row():
            name = gr.Textbox(label="export name", value="export-1", elem_id="ex-name")
            out_format = gr.Radio(
                ["jsonl", "parquet", "hf"], value="jsonl", label="file format", elem_id="ex-out-format"
            )
            eval_fraction = gr.Slider(0, 0.5, value=0.1, step=0.05, label="eval fraction", elem_id="ex-eval")
            seed = gr.Number(value=0, precision=0, label="seed", elem_id="ex-seed")
            overwrite = gr.Checkbox(label="overwrite", elem_id="ex-overwrite")
        with gr.Row():
            preview_btn = gr.Button("Preview counts", elem_id="ex-preview")
            export_btn = gr.Button("Export", variant="primary", elem_id="ex-export")
        message = gr.HTML(elem_id="ex-message", js_on_load=None)
        preview = gr.Dataframe(
            headers=["file", "train", "eval"],
            interactive=False,
            label="rows per file",
            elem_id="ex-preview-table",
        )
        recent = gr.Dataframe(
            headers=RECENT_COLUMNS, interactive=False, label="recent exports", elem_id="ex-recent"
        )
    return ExportView(
        tab,
        filters,
        name,
        out_format,
        eval_fraction,
        seed,
        overwrite,
        preview_btn,
        export_btn,
        message,
        preview,
        recent,
    )


def build(ctx: TabContext) -> None:
    """The Export tab inside the app's Tabs; exports go under `ctx.exports_root`."""
    v = _layout()

    def recent() -> pd.DataFrame:
        return recent_table(list_exports(ctx.exports_root))

    def on_preview(eval_fraction, seed, *values):
        try:
            filters = export_filters(*values)
            with ctx.bench.db() as store:
                counts = preview_counts(
                    store, filters, eval_fraction=float(eval_fraction), seed=int(seed or 0)
                )
        except CuratorError as exc:  # a filter, a name or a tag the user must change
            return {v.message: err(str(exc))}
        return {v.message: ok(pairs_text(counts)), v.preview: counts_table(counts)}

    def on_export(  # one parameter per input: Gradio passes the progress tracker by position
        name,
        out_format,
        eval_fraction,
        seed,
        overwrite,
        path,
        fmt,
        teacher,
        reviewer,
        since,
        until,
        chosen,
        progress=gr.Progress(),  # noqa: B008
    ):
        try:
            filters = export_filters(path, fmt, teacher, reviewer, since, until, chosen)
            out = resolve_export_dir(ctx.exports_root, name)
            with ctx.bench.db() as store:
                result = export_store(
                    store,
                    out,
                    file_format=out_format,
                    eval_fraction=float(eval_fraction),
                    seed=int(seed or 0),
                    filters=filters,
                    overwrite=bool(overwrite),
                    progress=lambda f, text: progress(f, desc=text),
                )
        except CuratorError as exc:  # a filter, a name or a tag the user must change
            return {v.message: err(str(exc)), v.recent: recent()}
        return {
            v.message: ok(f"Exported to {result['out']}."),
            v.preview: counts_table(result),
            v.recent: recent(),
        }

    def on_tab():
        return {v.tags: gr.Dropdown(choices=ctx.taxonomy_tags()), v.recent: recent()}

    v.preview_btn.click(on_preview, [v.eval_fraction, v.seed, *v.filters], [v.message, v.preview])
    v.export_btn.click(
        on_export,
        [v.name, v.out_format, v.eval_fraction, v.seed, v.overwrite, *v.filters],
        [v.message, v.preview, v.recent],
    )
    v.tab.select(on_tab, None, [v.tags, v.recent])
