"""The Review tab's edit panel: a working copy of the item's turns, one step at a time, with a diff
against what is stored; saving writes a new revision and accepts it (`review.edit`).

The working copy lives in the browser session (`sess["working"]`, the step and call selected in
`edit_step` / `edit_call`); the rules for changing it are `curator.edits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from curator import edits
from curator.app import render
from curator.app.context import TabContext, shown_of
from curator.app.render import err, ok, pretty_json
from curator.edits import EditError
from curator.model import Turn
from curator.review import ReviewError
from curator.steps import blocks, step_count

if TYPE_CHECKING:
    from curator.app.review_tab import ReviewHandlers, ReviewView


def step_fields(turns, step: int, call: int = 0) -> dict:
    """The editable fields of step `step` (its `call`-th tool call)."""
    bs = blocks(turns)
    turn = bs[edits.step_index(bs, step)].turn
    calls = turn.tool_calls
    chosen = calls[call] if call < len(calls) else None
    return {
        "thought": turn.thought,
        "tool_name": chosen.name if chosen else "",
        "arguments": pretty_json(chosen.arguments) if chosen else "",
        "reply": turn.content,
        "calls": len(calls),
    }


def step_choices(turns) -> list[tuple[str, int]]:
    return [(f"Step {k + 1}", k) for k in range(step_count(turns))]


def call_choices(calls: int) -> list[tuple[str, int]]:
    return [(f"call {c + 1}", c) for c in range(max(calls, 1))]


def first_step_of(step, turns) -> int:
    """The step the editor opens on: the first faulty step picked for a fail, else the first."""
    return int(step) - 1 if step and 0 < int(step) <= step_count(turns) else 0


@dataclass
class EditView:
    panel: gr.Column
    step: gr.Dropdown
    call: gr.Radio
    thought: gr.Textbox
    tool_name: gr.Textbox
    arguments: gr.Code
    reply: gr.Textbox
    error: gr.HTML
    buttons: dict[str, gr.Button]  # check, insert, delete, save, cancel
    diff: gr.HTML

    @property
    def fields(self) -> list:
        return [self.thought, self.tool_name, self.arguments, self.reply]


def _buttons() -> dict[str, gr.Button]:
    with gr.Row():
        buttons = {
            "check": gr.Button("Check & diff", elem_id="edit-check"),
            "insert": gr.Button("Insert step after", elem_id="edit-insert"),
            "delete": gr.Button("Delete step", elem_id="edit-delete"),
        }
    with gr.Row():
        buttons["save"] = gr.Button("Save revision", variant="primary", elem_id="edit-save")
        buttons["cancel"] = gr.Button("Cancel (Esc)", elem_id="edit-cancel")
    return buttons


def layout() -> EditView:
    """The panel, hidden until a reviewer presses Edit."""
    with gr.Column(visible=False, elem_id="edit-panel") as panel:
        gr.Markdown("#### Edit (saving makes a new revision and accepts it)")
        with gr.Row():
            step = gr.Dropdown(label="step", choices=[], elem_id="edit-step")
            call = gr.Radio(label="tool call", choices=[], visible=False, elem_id="edit-call")
        thought = gr.Textbox(label="thought", lines=3, elem_id="edit-thought")
        tool_name = gr.Textbox(label="tool name (empty: no call)", elem_id="edit-tool")
        arguments = gr.Code(label="arguments (JSON)", language="json", elem_id="edit-args")
        reply = gr.Textbox(label="reply / final answer", lines=2, elem_id="edit-reply")
        error = gr.HTML(elem_id="edit-error", js_on_load=None)
        buttons = _buttons()
        diff = gr.HTML(elem_id="edit-diff", js_on_load=None)
    return EditView(panel, step, call, thought, tool_name, arguments, reply, error, buttons, diff)


def working(sess: dict) -> list[Turn]:
    return [Turn.from_dict(t) for t in sess["working"]]


class EditHandlers:
    def __init__(self, ctx: TabContext, view: EditView, review: ReviewHandlers):
        self.ctx, self.view, self.review = ctx, view, review
        v = view
        self.outputs = [ctx.sess, v.panel, v.step, v.call, *v.fields, v.error, v.diff]

    def show(self, sess: dict, turns: list[Turn], step: int, call: int, error: str = "") -> dict:
        """The panel with `turns` as the working copy and `step` (its `call`) selected."""
        v = self.view
        fields = step_fields(turns, step, call)
        original = [Turn.from_dict(t) for t in sess["original"]]
        sess = {**sess, "working": [t.to_dict() for t in turns], "edit_step": step, "edit_call": call}
        return {
            self.ctx.sess: sess,
            v.panel: gr.Column(visible=True),
            v.step: gr.Dropdown(choices=step_choices(turns), value=step),
            v.call: gr.Radio(choices=call_choices(fields["calls"]), value=call, visible=fields["calls"] > 1),
            v.thought: fields["thought"],
            v.tool_name: fields["tool_name"],
            v.arguments: fields["arguments"],
            v.reply: fields["reply"],
            v.error: error,
            v.diff: render.diff_html(original, turns),
        }

    def refused(self, text: str) -> dict:
        return {self.view.error: err(text)}

    def applied(self, sess: dict, values) -> list[Turn]:
        """The working copy with the fields on screen applied to the selected step."""
        task = self.ctx.bench.task(shown_of(sess).traj_id)
        thought, tool_name, arguments, reply = values
        return edits.apply_step(
            task,
            working(sess),
            sess["edit_step"],
            sess["edit_call"],
            thought=thought,
            tool_name=tool_name,
            arguments=arguments,
            reply=reply,
        )

    def on_edit(self, sess, step):
        shown = shown_of(sess)
        if shown is None:
            return self.refused("Nothing on screen to edit.")
        turns = list(self.ctx.bench.view(shown).loaded.turns)
        sess = {**sess, "original": [t.to_dict() for t in turns]}
        return self.show(sess, turns, first_step_of(step, turns), 0)

    def on_switch(self, sess, step, call, thought, tool_name, arguments, reply):
        try:
            turns = self.applied(sess, (thought, tool_name, arguments, reply))
        except EditError as exc:  # stay on the step whose fields are wrong
            v = self.view
            return {
                v.step: gr.Dropdown(value=sess["edit_step"]),
                v.call: gr.Radio(value=sess["edit_call"]),
                v.error: err(str(exc)),
            }
        same_step = int(step) == sess["edit_step"]
        return self.show(sess, turns, int(step), int(call or 0) if same_step else 0)

    def on_check(self, sess, thought, tool_name, arguments, reply):
        try:
            turns = self.applied(sess, (thought, tool_name, arguments, reply))
        except EditError as exc:
            return self.refused(str(exc))
        valid = ok("Looks valid; the diff below is what Save writes.")
        return self.show(sess, turns, sess["edit_step"], sess["edit_call"], valid)

    def on_insert(self, sess, thought, tool_name, arguments, reply):
        try:
            turns = self.applied(sess, (thought, tool_name, arguments, reply))
            turns, new = edits.insert_step(turns, sess["edit_step"])
        except EditError as exc:
            return self.refused(str(exc))
        return self.show(sess, turns, new, 0)

    def on_delete(self, sess):
        try:
            turns = edits.delete_step(working(sess), sess["edit_step"])
        except EditError as exc:
            return self.refused(str(exc))
        return self.show(sess, turns, max(0, sess["edit_step"] - 1), 0)

    def on_save(self, sess, md, thought, tool_name, arguments, reply, request: gr.Request):
        reviewer = self.ctx.who(request)
        shown = shown_of(sess)
        try:
            turns = self.applied(sess, (thought, tool_name, arguments, reply))
            edits.check_complete(turns)
            if [t.to_dict() for t in turns] == sess["original"]:
                raise EditError("nothing changed: accept it instead (a)")
            number = self.ctx.bench.save_edit(shown, reviewer, turns)
        except (EditError, ReviewError) as exc:
            return self.refused(str(exc))
        saved = ok(f"Saved revision {number} of #{shown.traj_id} and accepted it.")
        return {**self.review.next_page(sess, md, saved, reviewer), self.view.error: "", self.view.diff: ""}

    def on_cancel(self, sess):
        return {self.ctx.sess: {**sess, "working": None}, self.view.panel: gr.Column(visible=False)}

    def wire(self, edit_button: gr.Button, first_step: gr.Number) -> None:
        ctx, v, b = self.ctx, self.view, self.view.buttons
        hidden = {"show_progress": "hidden"}
        edit_button.click(self.on_edit, [ctx.sess, first_step], self.outputs, **hidden)
        for selector in (v.step, v.call):
            selector.input(self.on_switch, [ctx.sess, v.step, v.call, *v.fields], self.outputs, **hidden)
        b["check"].click(self.on_check, [ctx.sess, *v.fields], self.outputs, **hidden)
        b["insert"].click(self.on_insert, [ctx.sess, *v.fields], self.outputs, **hidden)
        b["delete"].click(self.on_delete, [ctx.sess], self.outputs, **hidden)
        b["save"].click(
            self.on_save,
            [ctx.sess, ctx.markdown, *v.fields],
            [*self.review.page_outputs, v.error, v.diff],
            **hidden,
        ).then(self.review.side, [ctx.sess], self.review.side_outputs, **hidden)
        b["cancel"].click(self.on_cancel, [ctx.sess], [ctx.sess, v.panel], **hidden)


def wire(ctx: TabContext, review_view: ReviewView, review: ReviewHandlers) -> None:
    """Connect the panel (laid out by `layout` inside the Review tab) to its handlers."""
    EditHandlers(ctx, review_view.edit, review).wire(review_view.buttons["edit"], review_view.first_step)
