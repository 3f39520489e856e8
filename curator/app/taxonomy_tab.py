"""The Taxonomy tab: the failure tags in force, edited as a table or one new tag at a time; saving
makes a new version (every tag with a description), which the Review tab offers when shown next."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from curator.app.context import TabContext
from curator.app.render import err, ok
from curator.taxonomy import TaxonomyError, save_version

COLUMNS = ["tag", "description"]


def version_html(version: int, msg: str = "") -> str:
    return (
        f"<div>Version {version} in force. Saving makes version {version + 1}; "
        f"decisions keep the version they were made under.</div>{msg}"
    )


def table_rows(table: pd.DataFrame | None) -> list[tuple[str, ...]]:
    """The edited table as (tag, description) rows of text."""
    return [] if table is None else [tuple(map(str, r)) for r in table.values.tolist()]


def build(ctx: TabContext) -> None:
    """The Taxonomy tab inside the app's Tabs."""
    with gr.Tab("Taxonomy", id="taxonomy", elem_id="taxonomy-pane") as tab:
        info = gr.HTML(elem_id="tax-info", js_on_load=None)
        table = gr.Dataframe(headers=COLUMNS, interactive=True, column_count=2, elem_id="tax-table")
        save = gr.Button("Save as a new version", elem_id="tax-save")
        with gr.Row():
            new_tag = gr.Textbox(label="new tag (lower_snake_case)", elem_id="tax-new-tag")
            new_description = gr.Textbox(
                label="its description: when to use it", elem_id="tax-new-desc", scale=3
            )
            add = gr.Button("Add tag", elem_id="tax-add")

    def on_tab(msg: str = ""):
        with ctx.bench.db() as store:
            version = store.taxonomy_version()
            rows = [[t["tag"], t["description"]] for t in store.taxonomy(version)]
        return {info: version_html(version, msg), table: pd.DataFrame(rows, columns=COLUMNS)}

    def on_save(edited):
        try:
            with ctx.bench.db() as store:
                version = save_version(store, table_rows(edited))
        except TaxonomyError as exc:
            return on_tab(err(str(exc)))
        return on_tab(ok(f"Taxonomy version {version} in force."))

    def on_add(tag, description):
        try:
            with ctx.bench.db() as store:
                rows = [(t["tag"], t["description"]) for t in store.taxonomy()]
                version = save_version(store, [*rows, (tag, description)])
        except TaxonomyError as exc:
            return on_tab(err(str(exc)))
        return {**on_tab(ok(f"Taxonomy version {version} in force.")), new_tag: "", new_description: ""}

    tab.select(on_tab, None, [info, table])
    save.click(on_save, [table], [info, table])
    add.click(on_add, [new_tag, new_description], [info, table, new_tag, new_description])
