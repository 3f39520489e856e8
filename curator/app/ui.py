"""The Gradio app: tabs for Review, Compare, Dashboard, Taxonomy, Import, Export and Train.

Only layout and wiring live here; each handler calls the `Workbench` (review, queue) or a library
function (import, export, stats) and renders the result with `render`. A browser session keeps
what it has on screen in a `gr.State` dict (`sess`); the reviewer is the login name, or the
local user when the app runs without logins.
"""

from __future__ import annotations

import time
from datetime import datetime
from html import escape
from pathlib import Path

import gradio as gr
import pandas as pd

from curator.app import compare as pairing
from curator.app import dashboard, editing, importing, render, training
from curator.app.queue import QueueFilters, filter_choices, second_review_share, set_second_review_share
from curator.app.render import err, ok
from curator.app.steps import step_count
from curator.app.taxonomy import TaxonomyError, save_version
from curator.app.workbench import Shown, Workbench
from curator.export import ExportError, export_store, list_exports, preview_counts, resolve_export_dir
from curator.filters import ExportFilters
from curator.importers import FAMILY_BY_NAME
from curator.model import Turn
from curator.review import LeaseHeld, ReviewError, StaleWrite, load_task

STATIC = Path(__file__).resolve().parent / "static"
HELP = """<div id="help" class="card"><b>Keys</b> (not while typing in a field):
<kbd>a</kbd> accept · <kbd>e</kbd> edit · <kbd>f</kbd> fail (with the ticked tags and the
selected step) · <kbd>s</kbd> skip · <kbd>u</kbd> undo your last decision ·
<kbd>j</kbd>/<kbd>k</kbd> next/previous step (selects the first faulty step) ·
<kbd>1</kbd>-<kbd>9</kbd> toggle failure tags · <kbd>Esc</kbd> leave the editor ·
<kbd>?</kbd> this help. Compare tab: <kbd>l</kbd> left better · <kbd>r</kbd> right better ·
<kbd>t</kbd> tie · <kbd>b</kbd> both bad · <kbd>n</kbd> next pair.</div>"""
FILTERS = ("source_file", "source_format", "teacher", "source_label", "check", "tool")


def build_app(bench: Workbench, *, local_user: str, exports_root: Path, runs_root: Path) -> gr.Blocks:
    """The app over one store. `local_user` names the reviewer when there are no logins."""

    def who(request: gr.Request | None) -> str:
        return request.username if request is not None and request.username else local_user

    def shown_of(sess: dict) -> Shown | None:
        return Shown(**sess["shown"]) if sess.get("shown") else None

    def taxonomy_choices() -> list[tuple[str, str]]:
        with bench.db() as store:
            tags = [t["tag"] for t in store.taxonomy()]
        return [(f"{i + 1} {t}" if i < 9 else t, t) for i, t in enumerate(tags)]

    def filters_of(sess: dict) -> QueueFilters:
        return QueueFilters(**sess.get("filters", {}))

    with gr.Blocks(title="Trajectory Curator", analytics_enabled=False) as app:
        sess = gr.State({})
        with gr.Tabs(elem_id="tabs"):
            # ------------------------------------------------------------------ Review
            with gr.Tab("Review", id="review", elem_id="review-pane"):
                with gr.Row(equal_height=True):
                    progress_box = gr.HTML(elem_id="progress", js_on_load=None)
                    message = gr.HTML(elem_id="message", js_on_load=None)
                    markdown = gr.Checkbox(
                        label="render markdown (sanitized)",
                        value=False,
                        elem_id="md-toggle",
                        scale=0,
                        min_width=220,
                    )
                with gr.Accordion("Queue filters", open=False):
                    with gr.Row():
                        filter_boxes = {
                            name: gr.Dropdown(
                                label=name.replace("_", " "),
                                choices=[""],
                                value="",
                                allow_custom_value=False,
                                elem_id=f"filter-{name}",
                            )
                            for name in FILTERS
                        }
                    with gr.Row():
                        search = gr.Textbox(label="text search", elem_id="filter-text", scale=3)
                        apply_filters = gr.Button("Apply filters", elem_id="filter-apply")
                gr.HTML(HELP, js_on_load=None)
                with gr.Row():
                    with gr.Column(scale=3):
                        task_box = gr.HTML(elem_id="task", js_on_load=None)
                        cards = gr.HTML(elem_id="cards", js_on_load=None)
                    with gr.Column(scale=2):
                        with gr.Row():
                            accept_btn = gr.Button("Accept (a)", variant="primary", elem_id="btn-accept")
                            edit_btn = gr.Button("Edit (e)", elem_id="btn-edit")
                            fail_btn = gr.Button("Fail (f)", variant="stop", elem_id="btn-fail")
                            skip_btn = gr.Button("Skip (s)", elem_id="btn-skip")
                            undo_btn = gr.Button("Undo (u)", elem_id="btn-undo")
                        with gr.Group():
                            tags = gr.CheckboxGroup(
                                label="failure tags (1-9)", choices=[], elem_id="fail-tags"
                            )
                            first_step = gr.Number(
                                label="first faulty step (click a step, or j/k)",
                                precision=0,
                                value=None,
                                elem_id="first-step",
                            )
                            note = gr.Textbox(label="note", lines=1, elem_id="fail-note")
                        with gr.Column(visible=False, elem_id="edit-panel") as edit_panel:
                            gr.Markdown("#### Edit (saving makes a new revision and accepts it)")
                            with gr.Row():
                                edit_step = gr.Dropdown(label="step", choices=[], elem_id="edit-step")
                                edit_call = gr.Radio(
                                    label="tool call", choices=[], visible=False, elem_id="edit-call"
                                )
                            thought = gr.Textbox(label="thought", lines=3, elem_id="edit-thought")
                            tool_name = gr.Textbox(label="tool name (empty: no call)", elem_id="edit-tool")
                            arguments = gr.Code(
                                label="arguments (JSON)", language="json", elem_id="edit-args"
                            )
                            reply = gr.Textbox(label="reply / final answer", lines=2, elem_id="edit-reply")
                            edit_error = gr.HTML(elem_id="edit-error", js_on_load=None)
                            with gr.Row():
                                check_btn = gr.Button("Check & diff", elem_id="edit-check")
                                insert_btn = gr.Button("Insert step after", elem_id="edit-insert")
                                delete_btn = gr.Button("Delete step", elem_id="edit-delete")
                            with gr.Row():
                                save_btn = gr.Button("Save revision", variant="primary", elem_id="edit-save")
                                cancel_btn = gr.Button("Cancel (Esc)", elem_id="edit-cancel")
                            diff_box = gr.HTML(elem_id="edit-diff", js_on_load=None)
                        with gr.Accordion("History of this trajectory", open=True):
                            timeline_box = gr.HTML(elem_id="timeline", js_on_load=None)

            # ------------------------------------------------------------------ Compare
            with gr.Tab("Compare", id="compare", elem_id="compare-pane") as compare_tab:
                with gr.Row():
                    cmp_buttons = {
                        "left": gr.Button("Left better (l)", elem_id="cmp-left"),
                        "right": gr.Button("Right better (r)", elem_id="cmp-right"),
                        "tie": gr.Button("Tie (t)", elem_id="cmp-tie"),
                        "both_bad": gr.Button("Both bad (b)", elem_id="cmp-bad"),
                    }
                    cmp_next = gr.Button("Next pair (n)", elem_id="cmp-next")
                cmp_message = gr.HTML(elem_id="cmp-message", js_on_load=None)
                cmp_box = gr.HTML(elem_id="cmp", js_on_load=None)

            # ------------------------------------------------------------------ Dashboard
            with gr.Tab("Dashboard", id="dashboard", elem_id="dashboard-pane") as dash_tab:
                dash_refresh = gr.Button("Refresh", elem_id="dash-refresh")
                dash_summary = gr.HTML(elem_id="dash-summary", js_on_load=None)
                with gr.Row():
                    status_plot = gr.BarPlot(
                        x="status", y="trajectories", title="By status", elem_id="plot-status"
                    )
                    tags_plot = gr.BarPlot(
                        x="tag",
                        y="failures",
                        title="Failure tags",
                        sort="-y",
                        y_lim=[0, None],
                        x_label_angle=-40,
                        elem_id="plot-tags",
                    )
                with gr.Row():
                    pairs_plot = gr.BarPlot(
                        x="source", y="pairs", title="Pairs available by source", elem_id="plot-pairs"
                    )
                    throughput_plot = gr.BarPlot(
                        x="day",
                        y="decisions",
                        color="reviewer",
                        title="Decisions per reviewer and day",
                        elem_id="plot-throughput",
                    )
                throughput_table = gr.Dataframe(
                    label="Throughput (median seconds per item)", interactive=False, elem_id="throughput"
                )
                with gr.Row():
                    share = gr.Slider(
                        0,
                        1,
                        step=0.05,
                        label="share of decided items routed to a "
                        "second reviewer (blind to the first decision)",
                        elem_id="second-share",
                    )
                    share_btn = gr.Button("Save share", elem_id="second-share-save")

            # ------------------------------------------------------------------ Taxonomy
            with gr.Tab("Taxonomy", id="taxonomy", elem_id="taxonomy-pane") as tax_tab:
                tax_info = gr.HTML(elem_id="tax-info", js_on_load=None)
                tax_table = gr.Dataframe(
                    headers=["tag", "description"], interactive=True, column_count=2, elem_id="tax-table"
                )
                tax_save = gr.Button("Save as a new version", elem_id="tax-save")

            # ------------------------------------------------------------------ Import
            with gr.Tab("Import", id="import", elem_id="import-pane") as import_tab:
                with gr.Row():
                    files = gr.File(
                        label="trajectory files",
                        file_count="multiple",
                        type="filepath",
                        elem_id="import-files",
                    )
                    with gr.Column():
                        import_format = gr.Dropdown(
                            ["auto", *FAMILY_BY_NAME], value="auto", label="format", elem_id="import-format"
                        )
                        import_teacher = gr.Textbox(
                            label="teacher (for records without one)", elem_id="import-teacher"
                        )
                        import_btn = gr.Button("Import", variant="primary", elem_id="import-btn")
                import_summary = gr.Dataframe(
                    headers=["file", "format", "imported", "duplicates", "quarantined"],
                    label="per-file summary",
                    interactive=False,
                    elem_id="import-summary",
                )
                import_errors = gr.Dataframe(
                    headers=["file", "where", "reason"],
                    label="quarantined records of this import",
                    interactive=False,
                    elem_id="import-errors",
                )
                with gr.Accordion("Quarantine", open=True):
                    quarantine_file = gr.Dropdown(
                        label="file", choices=[""], value="", elem_id="quarantine-file"
                    )
                    quarantine = gr.Dataframe(
                        headers=["id", "file", "where", "reason", "raw"],
                        interactive=False,
                        wrap=True,
                        elem_id="quarantine",
                    )

            # ------------------------------------------------------------------ Export
            with gr.Tab("Export", id="export", elem_id="export-pane") as export_tab:
                with gr.Row():
                    ex_file = gr.Textbox(label="source file (glob)", elem_id="ex-file")
                    ex_format = gr.Dropdown(
                        ["", *FAMILY_BY_NAME], value="", label="source format", elem_id="ex-source-format"
                    )
                    ex_teacher = gr.Textbox(label="teacher", elem_id="ex-teacher")
                    ex_reviewer = gr.Textbox(label="reviewer", elem_id="ex-reviewer")
                with gr.Row():
                    ex_since = gr.Textbox(label="decided since (YYYY-MM-DD)", elem_id="ex-since")
                    ex_until = gr.Textbox(label="decided before (YYYY-MM-DD)", elem_id="ex-until")
                    ex_tags = gr.Dropdown(
                        label="failure tags", multiselect=True, choices=[], elem_id="ex-tags"
                    )
                with gr.Row():
                    ex_name = gr.Textbox(label="export name", value="export-1", elem_id="ex-name")
                    ex_out_format = gr.Radio(
                        ["jsonl", "parquet", "hf"],
                        value="jsonl",
                        label="file format",
                        elem_id="ex-out-format",
                    )
                    ex_eval = gr.Slider(
                        0, 0.5, value=0.1, step=0.05, label="eval fraction", elem_id="ex-eval"
                    )
                    ex_seed = gr.Number(value=0, precision=0, label="seed", elem_id="ex-seed")
                    ex_overwrite = gr.Checkbox(label="overwrite", elem_id="ex-overwrite")
                with gr.Row():
                    preview_btn = gr.Button("Preview counts", elem_id="ex-preview")
                    export_btn = gr.Button("Export", variant="primary", elem_id="ex-export")
                ex_message = gr.HTML(elem_id="ex-message", js_on_load=None)
                ex_preview = gr.Dataframe(
                    headers=["file", "train", "eval"],
                    interactive=False,
                    label="rows per file",
                    elem_id="ex-preview-table",
                )
                ex_recent = gr.Dataframe(
                    headers=["name", "created", "format", "sft", "dpo", "kto", "path"],
                    interactive=False,
                    label="recent exports",
                    elem_id="ex-recent",
                )

            # ------------------------------------------------------------------ Train
            training.train_tab(bench, runs_root=runs_root, who=who)

        # ======================================================================== handlers
        item_outputs = [sess, task_box, cards, message, tags, first_step, note, edit_panel]

        def show_item(sess: dict, item, md: bool, msg: str):
            """Outputs for `item_outputs`: the item on screen (or the empty queue)."""
            choices = taxonomy_choices()
            sess = {**sess, "shown": None if item is None else item.shown.__dict__, "working": None}
            common = [gr.CheckboxGroup(choices=choices, value=[]), None, "", gr.Column(visible=False)]
            if item is None:
                return [
                    sess,
                    "",
                    render.empty_html(
                        "Nothing left in this queue. Change the filters, import more, or check the dashboard."
                    ),
                    msg,
                    *common,
                ]
            i, shown = item.loaded.info, item.shown
            blind = (
                '<span class="blind">second review (blind)</span> · '
                if shown.second_review
                else f"status: {escape(item.loaded.status)} · "
            )
            header = (
                f'<div class="meta">#{shown.traj_id} · revision {i["revision"]} · {blind}'
                f"{escape(i['format'] or '')} · {escape(i['file'] or '')} "
                f"{escape(i['record'] or '')} · teacher {escape(i['teacher'] or '?')} · "
                f"source label {escape(i['label'] or 'none')}</div>"
            ) + render.source_failure_html(item.loaded.meta)
            loaded = item.loaded
            return [
                sess,
                render.task_html(loaded.task, md),
                render.trajectory_html(shown.traj_id, shown.rev_id, loaded.turns, loaded.flags, md, header),
                msg,
                *common,
            ]

        def side(sess: dict, request: gr.Request):
            """Progress and the timeline: after the item is on screen, so they never delay it."""
            p = bench.progress(who(request), filters_of(sess))
            bar = (
                f'<div class="progress"><b>{p["done"]}</b> / {p["total"]} done · '
                f"<b>{p['mine_today']}</b> mine today · reviewer <b>{escape(who(request))}</b>"
                f"</div>"
            )
            shown = shown_of(sess)
            if shown is None or shown.second_review:
                return bar, (
                    '<div class="timeline">Hidden during a blind second review.</div>' if shown else ""
                )
            return bar, render.timeline_html(bench.timeline(shown.traj_id))

        def next_item(sess: dict, md: bool, msg: str, reviewer: str):
            item = bench.next_item(reviewer, filters_of(sess), frozenset(sess.get("passed", ())))
            return show_item(sess, item, md, msg)

        def on_load(sess, md, request: gr.Request):
            choices = {}
            with bench.db() as store:
                choices = filter_choices(store)
            updates = [gr.Dropdown(choices=["", *choices[name]]) for name in FILTERS]
            return [*next_item(sess, md, "", who(request)), *updates]

        def decided(sess, md, request, kind, **kw):
            reviewer = who(request)
            shown = shown_of(sess)
            if shown is None:
                return [sess, gr.skip(), gr.skip(), err("Nothing on screen to decide."), *[gr.skip()] * 4]
            try:
                if kind == "skip" and shown.second_review:  # the first decision stands
                    bench.release(shown, reviewer)
                    sess = {**sess, "passed": [*sess.get("passed", ()), shown.traj_id]}
                else:
                    bench.decide(shown, reviewer, kind, **kw)
            except (StaleWrite, LeaseHeld) as exc:  # refused: someone else has it now
                return next_item(sess, md, err(str(exc)), reviewer)
            except ReviewError as exc:  # e.g. a first step out of range: fix and retry
                return [sess, gr.skip(), gr.skip(), err(str(exc)), *[gr.skip()] * 4]
            done = {"accept": "Accepted", "fail": "Failed", "skip": "Skipped"}[kind]
            return next_item(sess, md, ok(f"{done} #{shown.traj_id}."), reviewer)

        def on_accept(sess, md, request: gr.Request):
            return decided(sess, md, request, "accept")

        def on_skip(sess, md, request: gr.Request):
            return decided(sess, md, request, "skip")

        def on_fail(sess, md, chosen, step, text, request: gr.Request):
            if not chosen:
                return [
                    sess,
                    gr.skip(),
                    gr.skip(),
                    err("Tick at least one failure tag (keys 1-9) to fail this."),
                    *[gr.skip()] * 4,
                ]
            if step is None:
                return [
                    sess,
                    gr.skip(),
                    gr.skip(),
                    err("Pick the first faulty step: click its card, or j/k."),
                    *[gr.skip()] * 4,
                ]
            return decided(sess, md, request, "fail", tags=chosen, first_step=int(step) - 1, note=text)

        def on_undo(sess, md, request: gr.Request):
            reviewer = who(request)
            try:
                traj_id = bench.undo(reviewer)
            except ReviewError as exc:
                return [sess, gr.skip(), gr.skip(), err(str(exc)), *[gr.skip()] * 4]
            current = shown_of(sess)
            if current and current.traj_id != traj_id:
                bench.release(current, reviewer)
            try:
                item = bench.reopen(reviewer, traj_id)
            except ReviewError as exc:
                return next_item(sess, md, err(f"Undone, but {exc}"), reviewer)
            return show_item(sess, item, md, ok(f"Undid your last decision on #{traj_id}."))

        def on_filters(
            sess,
            md,
            search_text,
            source_file,
            source_format,
            teacher,
            source_label,
            check,
            tool,
            request: gr.Request,
        ):
            reviewer = who(request)
            bench.release(shown_of(sess), reviewer)
            values = (source_file, source_format, teacher, source_label, check, tool)
            chosen = {name: (v or None) for name, v in zip(FILTERS, values)}
            sess = {**sess, "filters": {**chosen, "text": (search_text or "").strip() or None}}
            return next_item(sess, md, ok("Filters applied."), reviewer)

        def on_markdown(sess, md):
            shown = shown_of(sess)
            if shown is None:
                return [gr.skip()] * 2
            item = bench.view(shown)
            out = show_item(sess, item, md, "")
            return out[1], out[2]

        review_inputs = [sess, markdown]
        for button, fn, inputs in (
            (accept_btn, on_accept, review_inputs),
            (skip_btn, on_skip, review_inputs),
            (fail_btn, on_fail, [*review_inputs, tags, first_step, note]),
            (undo_btn, on_undo, review_inputs),
            (apply_filters, on_filters, [*review_inputs, search, *filter_boxes.values()]),
        ):
            button.click(fn, inputs, item_outputs, show_progress="hidden").then(
                side, [sess], [progress_box, timeline_box], show_progress="hidden"
            )
        markdown.change(on_markdown, review_inputs, [task_box, cards], show_progress="hidden")
        app.load(
            on_load, review_inputs, [*item_outputs, *filter_boxes.values()], show_progress="hidden"
        ).then(side, [sess], [progress_box, timeline_box], show_progress="hidden")

        # -- edit ------------------------------------------------------------------------
        edit_fields = [thought, tool_name, arguments, reply]
        edit_outputs = [sess, edit_panel, edit_step, edit_call, *edit_fields, edit_error, diff_box]

        def working(sess) -> list[Turn]:
            return [Turn.from_dict(t) for t in sess["working"]]

        def edit_view(sess, turns, step: int, call: int, error: str = ""):
            """Outputs for `edit_outputs` with `step` selected."""
            fields = editing.step_fields(turns, step, call)
            original = [Turn.from_dict(t) for t in sess["original"]]
            sess = {**sess, "working": [t.to_dict() for t in turns], "edit_step": step, "edit_call": call}
            steps = [(f"Step {k + 1}", k) for k in range(step_count(turns))]
            calls = [(f"call {c + 1}", c) for c in range(max(fields["calls"], 1))]
            return [
                sess,
                gr.Column(visible=True),
                gr.Dropdown(choices=steps, value=step),
                gr.Radio(choices=calls, value=call, visible=fields["calls"] > 1),
                fields["thought"],
                fields["tool_name"],
                fields["arguments"],
                fields["reply"],
                error,
                render.diff_html(original, turns),
            ]

        def edit_error_only(sess, message_text: str):
            return [sess, *[gr.skip()] * 7, err(message_text), gr.skip()]

        def applied(sess, values) -> list[Turn]:
            shown = shown_of(sess)
            with bench.db() as store:
                task = load_task(store, shown.traj_id)
            t, name, args, rep = values
            return editing.apply_step(
                task,
                working(sess),
                sess["edit_step"],
                sess["edit_call"],
                thought=t,
                tool_name=name,
                arguments=args,
                reply=rep,
            )

        def on_edit(sess, step):
            shown = shown_of(sess)
            if shown is None:
                return edit_error_only(sess, "Nothing on screen to edit.")
            turns = list(bench.view(shown).loaded.turns)
            sess = {**sess, "original": [t.to_dict() for t in turns]}
            start = int(step) - 1 if step and 0 < int(step) <= step_count(turns) else 0
            return edit_view(sess, turns, start, 0)

        def on_switch(sess, step, call, *values):
            try:
                turns = applied(sess, values)
            except editing.EditError as exc:
                return [
                    sess,
                    gr.skip(),
                    gr.Dropdown(value=sess["edit_step"]),
                    gr.Radio(value=sess["edit_call"]),
                    *[gr.skip()] * 4,
                    err(str(exc)),
                    gr.skip(),
                ]
            return edit_view(sess, turns, int(step), int(call or 0) if int(step) == sess["edit_step"] else 0)

        def on_check(sess, *values):
            try:
                turns = applied(sess, values)
            except editing.EditError as exc:
                return edit_error_only(sess, str(exc))
            return edit_view(
                sess,
                turns,
                sess["edit_step"],
                sess["edit_call"],
                ok("Looks valid; the diff below is what Save writes."),
            )

        def on_insert(sess, *values):
            try:
                turns, new = editing.insert_step(applied(sess, values), sess["edit_step"])
            except editing.EditError as exc:
                return edit_error_only(sess, str(exc))
            return edit_view(sess, turns, new, 0)

        def on_delete(sess):
            try:
                turns = editing.delete_step(working(sess), sess["edit_step"])
            except editing.EditError as exc:
                return edit_error_only(sess, str(exc))
            return edit_view(sess, turns, max(0, sess["edit_step"] - 1), 0)

        def on_save(sess, md, new_thought, new_tool, new_arguments, new_reply, request: gr.Request):
            reviewer = who(request)
            shown = shown_of(sess)
            try:
                turns = applied(sess, (new_thought, new_tool, new_arguments, new_reply))
                editing.check_complete(turns)
                if [t.to_dict() for t in turns] == sess["original"]:
                    raise editing.EditError("nothing changed: accept it instead (a)")
                rev_id, _ = bench.save_edit(shown, reviewer, turns)
            except (editing.EditError, ReviewError) as exc:
                return [sess, *[gr.skip()] * 7, err(str(exc)), gr.skip()]
            with bench.db() as store:
                number = store.scalar("SELECT number FROM revisions WHERE rev_id = ?", [rev_id])
            out = next_item(
                sess, md, ok(f"Saved revision {number} of #{shown.traj_id} and accepted it."), reviewer
            )
            return [*out, "", ""]

        def on_cancel(sess):
            return [{**sess, "working": None}, gr.Column(visible=False)]

        edit_btn.click(on_edit, [sess, first_step], edit_outputs, show_progress="hidden")
        edit_step.input(
            on_switch, [sess, edit_step, edit_call, *edit_fields], edit_outputs, show_progress="hidden"
        )
        edit_call.input(
            on_switch, [sess, edit_step, edit_call, *edit_fields], edit_outputs, show_progress="hidden"
        )
        check_btn.click(on_check, [sess, *edit_fields], edit_outputs, show_progress="hidden")
        insert_btn.click(on_insert, [sess, *edit_fields], edit_outputs, show_progress="hidden")
        delete_btn.click(on_delete, [sess], edit_outputs, show_progress="hidden")
        save_btn.click(
            on_save,
            [sess, markdown, *edit_fields],
            [*item_outputs, edit_error, diff_box],
            show_progress="hidden",
        ).then(side, [sess], [progress_box, timeline_box], show_progress="hidden")
        cancel_btn.click(on_cancel, [sess], [sess, edit_panel], show_progress="hidden")

        # -- compare ---------------------------------------------------------------------
        def show_pair(sess, md, msg, request):
            reviewer = who(request)
            with bench.db() as store:
                pair = pairing.next_pair(store, reviewer, sess.get("cmp_passed", ()))
            if pair is None:
                return [
                    {**sess, "pair": None},
                    render.empty_html("No pair of trajectories of one task left to compare."),
                    msg,
                ]
            left, right = (bench.view(Shown(t, _current_rev(t), None, 0)) for t in pair)
            html = render.compare_html(
                left.loaded.task, (pair[0], left.loaded.turns), (pair[1], right.loaded.turns), md
            )
            return [{**sess, "pair": [*pair, time.monotonic()]}, html, msg]

        def _current_rev(traj_id: int) -> int:
            with bench.db() as store:
                return store.scalar("SELECT rev_id FROM state WHERE traj_id = ?", [traj_id])

        def on_verdict(verdict):
            def handler(sess, md, request: gr.Request):
                pair = sess.get("pair")
                if not pair:
                    return [sess, gr.skip(), err("No pair on screen.")]
                left, right, since = pair
                try:
                    bench.compare(who(request), left, right, verdict, round(time.monotonic() - since, 3))
                except ReviewError as exc:
                    return show_pair(sess, md, err(str(exc)), request)
                return show_pair(
                    sess, md, ok(f"Recorded: {verdict.replace('_', ' ')} (#{left} vs #{right})."), request
                )

            return handler

        def on_next_pair(sess, md, request: gr.Request):
            pair = sess.get("pair")
            if pair:
                sess = {**sess, "cmp_passed": [*sess.get("cmp_passed", ()), pair[:2]]}
            return show_pair(sess, md, "", request)

        def on_compare_tab(sess, md, request: gr.Request):
            if sess.get("pair"):
                return [gr.skip()] * 3
            return show_pair(sess, md, "", request)

        for verdict, button in cmp_buttons.items():
            button.click(
                on_verdict(verdict), review_inputs, [sess, cmp_box, cmp_message], show_progress="hidden"
            )
        cmp_next.click(on_next_pair, review_inputs, [sess, cmp_box, cmp_message], show_progress="hidden")
        compare_tab.select(
            on_compare_tab, review_inputs, [sess, cmp_box, cmp_message], show_progress="hidden"
        )

        # -- dashboard -------------------------------------------------------------------
        def on_dashboard():
            with bench.db() as store:
                f = dashboard.figures(store)
                current_share = second_review_share(store)
            s = f["stats"]
            kappa = (
                "n/a (no item decided by two reviewers yet)"
                if f["kappa"] is None
                else f"{f['kappa']:.2f} over {f['double_reviewed']} items ({f['agreed']} agreed)"
            )
            summary = (
                f'<div class="progress">{s["trajectories"]} trajectories of {s["tasks"]} '
                f"tasks · {s['quarantined']} quarantined · agreement (Cohen's kappa): "
                f'<b id="kappa">{escape(kappa)}</b></div>'
            )
            table = f["throughput"]
            return (
                summary,
                f["status"],
                f["tags"],
                f["pairs"],
                table[["day", "reviewer", "decisions"]],
                table,
                current_share,
            )

        dash_outputs = [
            dash_summary,
            status_plot,
            tags_plot,
            pairs_plot,
            throughput_plot,
            throughput_table,
            share,
        ]
        dash_refresh.click(on_dashboard, None, dash_outputs)
        dash_tab.select(on_dashboard, None, dash_outputs)

        def on_share(value):
            with bench.db() as store:
                set_second_review_share(store, float(value))
            return f'<div class="ok">{value:.0%} of decided items now go to a second reviewer.</div>'

        share_btn.click(on_share, [share], [dash_summary])

        # -- taxonomy --------------------------------------------------------------------
        def on_taxonomy_tab(msg: str = ""):
            with bench.db() as store:
                version = store.taxonomy_version()
                rows = [[t["tag"], t["description"]] for t in store.taxonomy(version)]
            info = (
                f"<div>Version {version} in force. Saving makes version {version + 1}; "
                f"decisions keep the version they were made under.</div>{msg}"
            )
            return info, pd.DataFrame(rows, columns=["tag", "description"])

        def on_taxonomy_save(table):
            rows = [] if table is None else [tuple(map(str, r)) for r in table.values.tolist()]
            try:
                with bench.db() as store:
                    version = save_version(store, rows)
            except TaxonomyError as exc:
                return on_taxonomy_tab(err(str(exc)))
            return on_taxonomy_tab(ok(f"Taxonomy version {version} in force."))

        tax_tab.select(on_taxonomy_tab, None, [tax_info, tax_table])
        tax_save.click(on_taxonomy_save, [tax_table], [tax_info, tax_table])

        # -- import ----------------------------------------------------------------------
        def quarantine_view(source_file: str | None):
            with bench.db() as store:
                rows = importing.quarantine_rows(store, source_file or None)
                names = [
                    r[0]
                    for r in store.con.execute(
                        "SELECT DISTINCT source_file FROM quarantine ORDER BY 1"
                    ).fetchall()
                ]
            return (
                gr.Dropdown(choices=["", *names]),
                pd.DataFrame(rows, columns=["id", "file", "where", "reason", "raw"]),
            )

        def on_import(paths, fmt, teacher, progress=gr.Progress()):  # noqa: B008
            if not paths:
                return (gr.skip(), gr.skip(), *quarantine_view(None))
            with bench.db() as store:
                summaries = importing.import_uploads(
                    store, list(paths), fmt, teacher, lambda fraction, text: progress(fraction, desc=text)
                )
            summary = pd.DataFrame(
                [
                    [Path(s.path).name, s.format or "?", s.imported, s.duplicates, s.quarantined]
                    for s in summaries
                ],
                columns=["file", "format", "imported", "duplicates", "quarantined"],
            )
            errors = pd.DataFrame(
                [[Path(s.path).name, e["where"], e["reason"]] for s in summaries for e in s.errors],
                columns=["file", "where", "reason"],
            )
            return (summary, errors, *quarantine_view(None))

        import_btn.click(
            on_import,
            [files, import_format, import_teacher],
            [import_summary, import_errors, quarantine_file, quarantine],
        )
        quarantine_file.change(lambda f: quarantine_view(f)[1], [quarantine_file], [quarantine])
        import_tab.select(lambda: quarantine_view(None), None, [quarantine_file, quarantine])

        # -- export ----------------------------------------------------------------------
        export_filter_inputs = [ex_file, ex_format, ex_teacher, ex_reviewer, ex_since, ex_until, ex_tags]

        def export_filters(path, fmt, teacher, reviewer, since, until, chosen) -> ExportFilters:
            def day(value, label):
                if not (value or "").strip():
                    return None
                try:
                    return datetime.strptime(value.strip(), "%Y-%m-%d")
                except ValueError:
                    raise ExportError(f"{label}: {value!r} is not a date like 2025-01-31") from None

            return ExportFilters(
                source_file=path or None,
                source_format=fmt or None,
                teacher=teacher or None,
                reviewer=reviewer or None,
                since=day(since, "decided since"),
                until=day(until, "decided before"),
                tags=tuple(chosen or ()),
            )

        def recent():
            rows = [
                [
                    e["name"],
                    e["created_at"],
                    e["format"],
                    *[sum((e["counts"] or {}).get(k, {}).values()) for k in ("sft", "dpo", "kto")],
                    e["path"],
                ]
                for e in list_exports(exports_root)[:20]
            ]
            return pd.DataFrame(rows, columns=["name", "created", "format", "sft", "dpo", "kto", "path"])

        def counts_table(counts: dict):
            return pd.DataFrame(
                [[k, counts[k]["train"], counts[k]["eval"]] for k in ("sft", "dpo", "kto")],
                columns=["file", "train", "eval"],
            )

        def on_preview(eval_fraction, seed, *values):
            try:
                filters = export_filters(*values)
                with bench.db() as store:
                    counts = preview_counts(
                        store, filters, eval_fraction=float(eval_fraction), seed=int(seed or 0)
                    )
            except ExportError as exc:
                return err(str(exc)), gr.skip()
            pairs = ", ".join(f"{v} {k}" for k, v in counts["pairs"].items())
            return ok(f"Pairs by source: {pairs}; {counts['skipped']} skipped."), counts_table(counts)

        def on_export(
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
            progress=gr.Progress(),
        ):
            try:
                filters = export_filters(path, fmt, teacher, reviewer, since, until, chosen)
                out = resolve_export_dir(exports_root, name)
                with bench.db() as store:
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
            except ExportError as exc:
                return err(str(exc)), gr.skip(), recent()
            return ok(f"Exported to {result['out']}."), counts_table(result), recent()

        def on_export_tab():
            with bench.db() as store:
                tag_names = [t["tag"] for t in store.taxonomy()]
            return gr.Dropdown(choices=tag_names), recent()

        preview_btn.click(on_preview, [ex_eval, ex_seed, *export_filter_inputs], [ex_message, ex_preview])
        export_btn.click(
            on_export,
            [ex_name, ex_out_format, ex_eval, ex_seed, ex_overwrite, *export_filter_inputs],
            [ex_message, ex_preview, ex_recent],
        )
        export_tab.select(on_export_tab, None, [ex_tags, ex_recent])
    return app


def launch_options() -> dict:
    """The keyboard script and styles, passed to `launch` (Gradio 6 takes them there)."""
    return {"js": (STATIC / "keys.js").read_text(), "css": (STATIC / "style.css").read_text()}
