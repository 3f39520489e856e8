"""The Review tab: the next item of the queue, its decisions (accept, fail, skip, undo), the queue
filters (a status filter finds decided and skipped items again; a switch leaves out
near-duplicates of decided items, with how many reviews that saves), "open #id", and the edit panel
(`edit_panel`). A skip on a decided item (a second review, one found again) writes nothing: it
passes the item for this session and the decision stands.

Each handler asks the `Workbench` (queue, leases, decisions) and returns a dict keyed by the
components it changes. Progress and the timeline are drawn after the item is on screen (`side`),
so they never delay it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import gradio as gr

from curator.app import edit_panel, render
from curator.app.context import TabContext, filters_of, shown_of
from curator.app.render import err, ok
from curator.app.workbench import ReviewPage, shown_state
from curator.filters import FilterError, parse_when
from curator.generate import FORMAT as GENERATED
from curator.queue import STATUSES, QueueError, filter_choices
from curator.review import DECIDED, LeaseHeld, ReviewError, StaleWrite

HELP = """<div id="help" class="card"><b>Keys</b> (not while typing in a field):
<kbd>a</kbd> accept · <kbd>e</kbd> edit · <kbd>f</kbd> fail (with the ticked tags and the
selected step) · <kbd>s</kbd> skip · <kbd>u</kbd> undo your last decision ·
<kbd>j</kbd>/<kbd>k</kbd> next/previous step (selects the first faulty step) ·
<kbd>1</kbd>-<kbd>9</kbd> toggle failure tags · <kbd>Esc</kbd> leave the editor, close this
help · <kbd>?</kbd> this help. Compare tab: <kbd>l</kbd> left better · <kbd>r</kbd> right better ·
<kbd>t</kbd> tie · <kbd>b</kbd> both bad · <kbd>n</kbd> next pair.</div>"""
FILTERS = ("source_file", "source_format", "teacher", "source_label", "check", "tool", "reviewer")
STATUS_CHOICES = [("pending, then skipped", ""), *((s, s) for s in STATUSES)]
DECISION_BUTTONS = ("accept", "edit", "fail", "skip")  # nothing to decide on an empty queue
EMPTY = "Nothing left in this queue. Change the filters, import more, or check the dashboard."
DONE = {"accept": "Accepted", "fail": "Failed", "skip": "Skipped"}


# -- pure helpers ------------------------------------------------------------------------------


def tag_choices(tags: list[str]) -> list[tuple[str, str]]:
    """Checkbox labels: the first nine tags carry the key that toggles them."""
    return [(f"{i + 1} {t}" if i < 9 else t, t) for i, t in enumerate(tags)]


def header_html(page: ReviewPage) -> str:
    """The line above the step cards: which item, revision, status (hidden when blind), source."""
    i, shown = page.loaded.info, page.shown
    blind = (
        '<span class="blind">second review (blind)</span> · '
        if shown.second_review
        else f"status: {escape(page.loaded.status)} · "
    )
    return (
        f'<div class="meta">#{shown.traj_id} · revision {i["revision"]} · {blind}'
        f"{escape(i['format'] or '')} · {escape(i['file'] or '')} "
        f"{escape(i['record'] or '')} · teacher {escape(i['teacher'] or '?')} · "
        f"{escape(source_label(i))}</div>"
    ) + render.source_failure_html(page.loaded.meta)


def source_label(info: dict) -> str:
    """The source's verdict, a suggestion: for a generated trajectory, the environment's checker and its reward."""
    reward = f" (reward {info['reward']:g})" if info.get("reward") is not None else ""
    name = "checker" if info["format"] == GENERATED else "source label"
    return f"{name}: {info['label'] or 'none'}{reward}"


def progress_html(p: dict, reviewer: str, status: str | None = None) -> str:
    view = f" · <b>{p['in_view']}</b> {escape(status)}" if status else ""
    return (
        f'<div class="progress"><b>{p["done"]}</b> / {p["total"]} done · {p["skipped"]} skipped'
        f"{view} · <b>{p['mine_today']}</b> mine today · reviewer <b>{escape(reviewer)}</b>"
        f"</div>"
    )


def queue_filters(search_text, status, since, until, values, skip_near_duplicates=False) -> dict:
    """The session's queue filters from the form (`values`: the dropdowns, in FILTERS order);
    dates as the export form and the CLI read them (`until` includes that day)."""
    chosen = {name: (v or None) for name, v in zip(FILTERS, values, strict=True)}
    return {
        **chosen,
        "skip_near_duplicates": bool(skip_near_duplicates),
        "text": (search_text or "").strip() or None,
        "status": status or None,
        "since": parse_when(since, name="decided since") if (since or "").strip() else None,
        "until": parse_when(until, end=True, name="decided until") if (until or "").strip() else None,
    }


def savings_info(saved: int, missing: int) -> str:
    """The near-duplicate switch's note: the reviews it saves, and what is not counted yet."""
    text = (
        f"saves {saved} review{'' if saved == 1 else 's'} (pending or skipped items repeating a decided one)"
    )
    if missing:
        text += f"; {missing} trajectories not embedded yet: turning this on embeds them and counts again"
    return text


def trajectory_id(text) -> int:
    """The id typed into "open #id" (a leading # allowed), or another tab's number."""
    if isinstance(text, int | float):
        return int(text)
    value = str(text or "").strip().lstrip("#")
    if not value.isdigit():
        raise ReviewError(f"open: {text!r} is not a trajectory id (a number, like 42)")
    return int(value)


def fail_problem(chosen, step) -> str | None:
    """Why a fail cannot be recorded yet (a tag and the first faulty step are needed), or None."""
    if not chosen:
        return "Tick at least one failure tag (keys 1-9) to fail this."
    if step is None:
        return "Pick the first faulty step: click its card, or j/k."
    return None


# -- layout ------------------------------------------------------------------------------------


@dataclass
class ReviewView:
    progress: gr.HTML
    message: gr.HTML
    filters: dict[str, gr.Dropdown]
    status: gr.Dropdown
    since: gr.Textbox
    until: gr.Textbox
    search: gr.Textbox
    skip_dups: gr.Checkbox
    apply_filters: gr.Button
    open_id: gr.Textbox
    open_button: gr.Button
    tab: gr.Tab
    task: gr.HTML
    cards: gr.HTML
    buttons: dict[str, gr.Button]  # accept, edit, fail, skip, undo
    tags: gr.CheckboxGroup
    first_step: gr.Number
    note: gr.Textbox
    edit: edit_panel.EditView
    timeline: gr.HTML


def _filters_layout() -> tuple:
    with gr.Accordion("Queue filters", open=False):
        with gr.Row():
            status = gr.Dropdown(label="status", choices=STATUS_CHOICES, value="", elem_id="filter-status")
            since = gr.Textbox(label="decided since (YYYY-MM-DD)", elem_id="filter-since")
            until = gr.Textbox(label="decided until (YYYY-MM-DD)", elem_id="filter-until")
        with gr.Row():
            boxes = {
                name: gr.Dropdown(
                    label="decided by" if name == "reviewer" else name.replace("_", " "),
                    choices=[""],
                    value="",
                    allow_custom_value=False,
                    elem_id=f"filter-{name}",
                )
                for name in FILTERS
            }
        with gr.Row():
            search = gr.Textbox(label="text search", elem_id="filter-text", scale=3)
            skip_dups = gr.Checkbox(
                label="skip near-duplicates of decided items",
                info="saves: counted when the page has loaded",
                value=False,
                elem_id="filter-skip-dups",
                scale=2,
            )
            apply = gr.Button("Apply filters", elem_id="filter-apply")
    return boxes, status, since, until, search, skip_dups, apply


def _decision_buttons() -> dict[str, gr.Button]:
    with gr.Row():
        return {
            "accept": gr.Button("Accept (a)", variant="primary", elem_id="btn-accept"),
            "edit": gr.Button("Edit (e)", elem_id="btn-edit"),
            "fail": gr.Button("Fail (f)", variant="stop", elem_id="btn-fail"),
            "skip": gr.Button("Skip (s)", elem_id="btn-skip"),
            "undo": gr.Button("Undo (u)", elem_id="btn-undo"),
        }


def _layout(ctx: TabContext, tab: gr.Tab) -> ReviewView:
    with gr.Row(equal_height=True):
        progress = gr.HTML(elem_id="progress", js_on_load=None)
        message = gr.HTML(elem_id="message", js_on_load=None)
        open_id = gr.Textbox(
            placeholder="open #id", show_label=False, max_lines=1, elem_id="open-id", scale=0, min_width=110
        )
        open_button = gr.Button("Open", elem_id="open-btn", scale=0, min_width=60)
        ctx.markdown.render()
    filters, status, since, until, search, skip_dups, apply_filters = _filters_layout()
    gr.HTML(HELP, js_on_load=None)
    with gr.Row():
        with gr.Column(scale=3):
            task = gr.HTML(elem_id="task", js_on_load=None)
            cards = gr.HTML(elem_id="cards", js_on_load=None)
        with gr.Column(scale=2, elem_id="actions"):  # sticky (style.css): in view on long items
            buttons = _decision_buttons()
            with gr.Group():
                tags = gr.CheckboxGroup(label="failure tags (1-9)", choices=[], elem_id="fail-tags")
                first_step = gr.Number(
                    label="first faulty step (click a step, or j/k)",
                    precision=0,
                    value=None,
                    elem_id="first-step",
                )
                note = gr.Textbox(label="note", lines=1, elem_id="fail-note")
            edit = edit_panel.layout()
            with gr.Accordion("History of this trajectory", open=True):
                timeline = gr.HTML(elem_id="timeline", js_on_load=None)
    return ReviewView(
        progress,
        message,
        filters,
        status,
        since,
        until,
        search,
        skip_dups,
        apply_filters,
        open_id,
        open_button,
        tab,
        task,
        cards,
        buttons,
        tags,
        first_step,
        note,
        edit,
        timeline,
    )


# -- handlers ----------------------------------------------------------------------------------


class ReviewHandlers:
    """The tab's handlers; the edit panel uses `show`, `next_page` and `side` too."""

    def __init__(self, ctx: TabContext, view: ReviewView):
        self.ctx, self.view = ctx, view
        v = view
        self.page_outputs = [ctx.sess, v.task, v.cards, v.message, v.tags, v.first_step, v.note, v.edit.panel]
        self.page_outputs += [v.buttons[name] for name in DECISION_BUTTONS]
        self.side_outputs = [v.progress, v.timeline]

    def content(self, page: ReviewPage, md: bool) -> dict:
        """The task and the step cards of the page on screen."""
        loaded, shown = page.loaded, page.shown
        return {
            self.view.task: render.task_html(loaded.task, md),
            self.view.cards: render.trajectory_html(
                shown.traj_id, shown.rev_id, loaded.turns, loaded.flags, md, header_html(page)
            ),
        }

    def show(self, sess: dict, page: ReviewPage | None, md: bool, msg: str) -> dict:
        """`page` on screen (or the empty queue), with the decision fields cleared."""
        v = self.view
        status = page.loaded.status if page else None
        sess = {**sess, "shown": shown_state(page.shown if page else None), "working": None, "status": status}
        out = {
            self.ctx.sess: sess,
            v.message: msg,
            v.tags: gr.CheckboxGroup(choices=tag_choices(self.ctx.taxonomy_tags()), value=[]),
            v.first_step: None,
            v.note: "",
            v.edit.panel: gr.Column(visible=False),
            **{v.buttons[name]: gr.Button(interactive=page is not None) for name in DECISION_BUTTONS},
        }
        if page is None:
            return {**out, v.task: "", v.cards: render.empty_html(EMPTY)}
        return {**out, **self.content(page, md)}

    def next_page(self, sess: dict, md: bool, msg: str, reviewer: str) -> dict:
        page = self.ctx.bench.next_item(reviewer, filters_of(sess), frozenset(sess.get("passed", ())))
        return self.show(sess, page, md, msg)

    def side(self, sess: dict, request: gr.Request) -> dict:
        """Progress and the timeline: after the item is on screen, so they never delay it."""
        reviewer = self.ctx.who(request)
        filters = filters_of(sess)
        bar = progress_html(self.ctx.bench.progress(reviewer, filters), reviewer, filters.status)
        shown = shown_of(sess)
        if shown is None or shown.second_review:
            hidden = '<div class="timeline">Hidden during a blind second review.</div>' if shown else ""
            return {self.view.progress: bar, self.view.timeline: hidden}
        timeline = render.timeline_html(self.ctx.bench.timeline(shown.traj_id))
        return {self.view.progress: bar, self.view.timeline: timeline}

    def on_savings(self):
        """The switch's note, after the page is on screen: counted over what is embedded."""
        return gr.Checkbox(info=savings_info(*self.ctx.bench.near_duplicates(embed=False)))

    def on_skip_dups(self, on, progress=gr.Progress()):  # noqa: B008  (Gradio injects it)
        """Turned on: embed what has no embedding yet (with progress), then count again."""
        if not on:
            return gr.skip()
        counts = self.ctx.bench.near_duplicates(True, lambda f, text: progress(f, desc=text))
        return gr.Checkbox(info=savings_info(*counts))

    def on_load(self, sess, md, request: gr.Request):
        with self.ctx.bench.db() as store:
            choices = filter_choices(store)
        updates = {box: gr.Dropdown(choices=["", *choices[name]]) for name, box in self.view.filters.items()}
        return {**self.next_page(sess, md, "", self.ctx.who(request)), **updates}

    def decided(self, sess, md, request, kind, **kw) -> dict:
        reviewer = self.ctx.who(request)
        shown = shown_of(sess)
        if shown is None:
            return {self.view.message: err("Nothing on screen to decide.")}
        try:
            if kind == "skip" and (shown.second_review or sess.get("status") in DECIDED):
                self.ctx.bench.release(shown, reviewer)  # passed: the decision stands
                sess = {**sess, "passed": [*sess.get("passed", ()), shown.traj_id]}
            else:
                self.ctx.bench.decide(shown, reviewer, kind, **kw)
        except (StaleWrite, LeaseHeld) as exc:  # refused: someone else has it now
            return self.next_page(sess, md, err(str(exc)), reviewer)
        except ReviewError as exc:  # e.g. a first step out of range: fix and retry
            return {self.view.message: err(str(exc))}
        return self.next_page(sess, md, ok(f"{DONE[kind]} #{shown.traj_id}."), reviewer)

    def on_accept(self, sess, md, request: gr.Request):
        return self.decided(sess, md, request, "accept")

    def on_skip(self, sess, md, request: gr.Request):
        return self.decided(sess, md, request, "skip")

    def on_fail(self, sess, md, chosen, step, text, request: gr.Request):
        problem = fail_problem(chosen, step)
        if problem:
            return {self.view.message: err(problem)}
        return self.decided(sess, md, request, "fail", tags=chosen, first_step=int(step) - 1, note=text)

    def on_undo(self, sess, md, request: gr.Request):
        reviewer = self.ctx.who(request)
        bench = self.ctx.bench
        try:
            traj_id = bench.undo(reviewer)
        except ReviewError as exc:
            return {self.view.message: err(str(exc))}
        current = shown_of(sess)
        if current and current.traj_id != traj_id:
            bench.release(current, reviewer)
        try:
            page = bench.reopen(reviewer, traj_id)
        except ReviewError as exc:
            return self.next_page(sess, md, err(f"Undone, but {exc}"), reviewer)
        return self.show(sess, page, md, ok(f"Undid your last decision on #{traj_id}."))

    def on_open(self, sess, traj_id, md, request: gr.Request):
        """A trajectory asked for by id ("open #id", a link in the history, a point on the Data
        tab's map), whatever its status, leased as any; the item on screen stays if it fails."""
        reviewer = self.ctx.who(request)
        try:
            wanted = trajectory_id(traj_id)
            shown = shown_of(sess)
            if shown and shown.traj_id != wanted:
                self.ctx.bench.release(shown, reviewer)
            page = self.ctx.bench.reopen(reviewer, wanted)
        except ReviewError as exc:
            return {self.view.message: err(str(exc))}
        return self.show(sess, page, md, ok(f"Opened #{wanted}. Its status: {page.loaded.status}."))

    def on_tab(self, sess, md, chosen, request: gr.Request):
        """Back on Review: the failure tags as the taxonomy now has them (ticks kept); with nothing on screen, the
        next item (some may have come in meanwhile: a generation job, an import)."""
        tags = self.ctx.taxonomy_tags()
        update = gr.CheckboxGroup(choices=tag_choices(tags), value=[t for t in chosen or () if t in tags])
        if shown_of(sess) is not None:
            return {self.view.tags: update}
        return {**self.next_page(sess, md, "", self.ctx.who(request)), self.view.tags: update}

    def open_from(self, event, number: gr.Number) -> None:
        """`TabContext.open_in_review`: after `event`, the trajectory `number` holds, in Review."""
        event.then(self.on_open, [self.ctx.sess, number, self.ctx.markdown], self.page_outputs).then(
            self.side, [self.ctx.sess], self.side_outputs, show_progress="hidden"
        )

    def on_filters(
        self,
        sess,
        md,
        search_text,
        status,
        since,
        until,
        skip_dups,
        source_file,
        source_format,
        teacher,
        source_label,
        check,
        tool,
        decided_by,
        request: gr.Request,
    ):
        reviewer = self.ctx.who(request)
        values = (source_file, source_format, teacher, source_label, check, tool, decided_by)
        try:
            chosen = queue_filters(search_text, status, since, until, values, skip_dups)
        except (FilterError, QueueError) as exc:
            return {self.view.message: err(str(exc))}
        done = "Filters applied."
        if skip_dups:  # what is not embedded yet is embedded first: never left in by mistake
            saved, _ = self.ctx.bench.near_duplicates(embed=True)
            done = f"Filters applied; near-duplicates of decided items skipped: {saved}."
        self.ctx.bench.release(shown_of(sess), reviewer)
        sess = {**sess, "filters": chosen, "passed": []}
        return self.next_page(sess, md, ok(done), reviewer)

    def on_markdown(self, sess, md):
        shown = shown_of(sess)
        if shown is None:
            return gr.skip()
        return self.content(self.ctx.bench.view(shown), md)

    def wire(self) -> None:
        ctx, v = self.ctx, self.view
        review_inputs = [ctx.sess, ctx.markdown]
        for button, fn, inputs in (
            (v.buttons["accept"], self.on_accept, review_inputs),
            (v.buttons["skip"], self.on_skip, review_inputs),
            (v.buttons["fail"], self.on_fail, [*review_inputs, v.tags, v.first_step, v.note]),
            (v.buttons["undo"], self.on_undo, review_inputs),
            (
                v.apply_filters,
                self.on_filters,
                [*review_inputs, v.search, v.status, v.since, v.until, v.skip_dups, *v.filters.values()],
            ),
        ):
            button.click(fn, inputs, self.page_outputs, show_progress="hidden").then(
                self.side, [ctx.sess], self.side_outputs, show_progress="hidden"
            )
        for event in (v.open_button.click, v.open_id.submit):
            event(
                self.on_open, [ctx.sess, v.open_id, ctx.markdown], self.page_outputs, show_progress="hidden"
            ).then(self.side, [ctx.sess], self.side_outputs, show_progress="hidden")
        v.tab.select(self.on_tab, [*review_inputs, v.tags], self.page_outputs, show_progress="hidden").then(
            self.side, [ctx.sess], self.side_outputs, show_progress="hidden"
        )
        ctx.markdown.change(self.on_markdown, review_inputs, [v.task, v.cards], show_progress="hidden")
        v.skip_dups.input(self.on_skip_dups, [v.skip_dups], [v.skip_dups])
        ctx.app.load(
            self.on_load, review_inputs, [*self.page_outputs, *v.filters.values()], show_progress="hidden"
        ).then(self.side, [ctx.sess], self.side_outputs, show_progress="hidden").then(
            self.on_savings, None, [v.skip_dups], show_progress="hidden"
        )


def build(ctx: TabContext) -> None:
    """The Review tab (with its edit panel) inside the app's Tabs."""
    with gr.Tab("Review", id="review", elem_id="review-pane") as tab:
        view = _layout(ctx, tab)
    handlers = ReviewHandlers(ctx, view)
    handlers.wire()
    ctx.open_in_review = handlers.open_from
    edit_panel.wire(ctx, view, handlers)
