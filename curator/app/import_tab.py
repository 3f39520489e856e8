"""The Import tab: upload trajectory files, see what each import stored, browse the quarantine."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from curator.app.context import TabContext
from curator.importers import FAMILY_BY_NAME
from curator.ingest import FileSummary
from curator.quarantine import quarantined, quarantined_files
from curator.uploads import import_uploads

SUMMARY_COLUMNS = ["file", "format", "imported", "duplicates", "quarantined"]
ERROR_COLUMNS = ["file", "where", "reason"]
QUARANTINE_COLUMNS = ["id", "file", "where", "reason", "raw"]


def summary_table(summaries: list[FileSummary]) -> pd.DataFrame:
    rows = [[Path(s.path).name, s.format or "?", s.imported, s.duplicates, s.quarantined] for s in summaries]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def errors_table(summaries: list[FileSummary]) -> pd.DataFrame:
    rows = [[Path(s.path).name, e["where"], e["reason"]] for s in summaries for e in s.errors]
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def _form() -> tuple[gr.File, gr.Dropdown, gr.Textbox, gr.Button]:
    with gr.Row():
        files = gr.File(
            label="trajectory files", file_count="multiple", type="filepath", elem_id="import-files"
        )
        with gr.Column():
            fmt = gr.Dropdown(
                ["auto", *FAMILY_BY_NAME], value="auto", label="format", elem_id="import-format"
            )
            teacher = gr.Textbox(label="teacher (for records without one)", elem_id="import-teacher")
            button = gr.Button("Import", variant="primary", elem_id="import-btn")
    return files, fmt, teacher, button


def build(ctx: TabContext) -> None:
    """The Import tab inside the app's Tabs."""
    with gr.Tab("Import", id="import", elem_id="import-pane") as tab:
        files, fmt, teacher, import_btn = _form()
        summary = gr.Dataframe(
            headers=SUMMARY_COLUMNS, label="per-file summary", interactive=False, elem_id="import-summary"
        )
        errors = gr.Dataframe(
            headers=ERROR_COLUMNS,
            label="quarantined records of this import",
            interactive=False,
            elem_id="import-errors",
        )
        with gr.Accordion("Quarantine", open=True):
            quarantine_file = gr.Dropdown(label="file", choices=[""], value="", elem_id="quarantine-file")
            quarantine = gr.Dataframe(
                headers=QUARANTINE_COLUMNS, interactive=False, wrap=True, elem_id="quarantine"
            )

    def quarantine_view(source_file: str | None) -> dict:
        with ctx.bench.db() as store:
            rows = quarantined(store, source_file or None)
            names = quarantined_files(store)
        return {
            quarantine_file: gr.Dropdown(choices=["", *names]),
            quarantine: pd.DataFrame(rows, columns=QUARANTINE_COLUMNS),
        }

    def on_import(paths, fmt_, teacher_, progress=gr.Progress()):  # noqa: B008
        if not paths:
            return quarantine_view(None)
        with ctx.bench.db() as store:
            summaries = import_uploads(
                store, list(paths), fmt_, teacher_, lambda fraction, text: progress(fraction, desc=text)
            )
        return {summary: summary_table(summaries), errors: errors_table(summaries), **quarantine_view(None)}

    import_btn.click(on_import, [files, fmt, teacher], [summary, errors, quarantine_file, quarantine])
    quarantine_file.change(lambda f: quarantine_view(f)[quarantine], [quarantine_file], [quarantine])
    tab.select(lambda: quarantine_view(None), None, [quarantine_file, quarantine])
