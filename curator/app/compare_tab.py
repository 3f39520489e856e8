"""The Compare tab: two trajectories of one task side by side; the reviewer says which is better.

The pair on screen is kept in the session (`sess["pair"]`: left, right, when shown); pairs passed
with "next" go to `sess["cmp_passed"]` and are not offered again in this session. The reviewer
sees how far they are (pair N of M) and, after a verdict, whether it will give a training pair
and, if not, why (`pairs.compare_outcome`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape

import gradio as gr

from curator.app import render
from curator.app.context import TabContext
from curator.app.render import err, ok
from curator.pairs import compare_outcome
from curator.queue import compare_progress, next_pair
from curator.review import ReviewError

VERDICT_BUTTONS = {
    "left": ("Left better (l)", "cmp-left"),
    "right": ("Right better (r)", "cmp-right"),
    "tie": ("Tie (t)", "cmp-tie"),
    "both_bad": ("Both bad (b)", "cmp-bad"),
}
NO_PAIR = "No pair of trajectories of one task left to compare."


def recorded_html(verdict: str, left: int, right: int, no_pair: str | None) -> str:
    """What the reviewer is told after a verdict: recorded, and whether it trains anything."""
    done = f"Recorded: {verdict.replace('_', ' ')} (#{left} vs #{right})."
    if no_pair is None:
        return ok(f"{done} It will be a preference pair in the next export.")
    return ok(done) + f'<div class="warn">No preference pair from this judgement: {escape(no_pair)}.</div>'


def progress_text(judged: int, total: int) -> str:
    return f"Pair {min(judged + 1, total)} of {total} · {judged} judged by you"


@dataclass
class CompareView:
    tab: gr.Tab
    verdicts: dict[str, gr.Button]
    next_pair: gr.Button
    message: gr.HTML
    pair: gr.HTML
    progress: gr.HTML


def _layout() -> CompareView:
    with gr.Tab("Compare", id="compare", elem_id="compare-pane") as tab:
        with gr.Row():
            verdicts = {v: gr.Button(label, elem_id=eid) for v, (label, eid) in VERDICT_BUTTONS.items()}
            next_pair = gr.Button("Next pair (n)", elem_id="cmp-next")
        progress = gr.HTML(elem_id="cmp-progress", js_on_load=None)
        message = gr.HTML(elem_id="cmp-message", js_on_load=None)
        pair = gr.HTML(elem_id="cmp", js_on_load=None)
    return CompareView(tab, verdicts, next_pair, message, pair, progress)


class CompareHandlers:
    def __init__(self, ctx: TabContext, view: CompareView):
        self.ctx, self.view = ctx, view
        self.outputs = [ctx.sess, view.pair, view.message, view.progress]

    def show_pair(self, sess: dict, md: bool, msg: str, request: gr.Request) -> dict:
        """The next pair this reviewer has not judged (or the end of them), with `msg` above."""
        bench, reviewer = self.ctx.bench, self.ctx.who(request)
        with bench.db() as store:
            pair = next_pair(store, reviewer, sess.get("cmp_passed", ()))
            progress = f'<div class="progress">{progress_text(*compare_progress(store, reviewer))}</div>'
        if pair is None:
            return {
                self.ctx.sess: {**sess, "pair": None},
                self.view.pair: render.empty_html(NO_PAIR),
                self.view.message: msg,
                self.view.progress: progress,
            }
        left, right = (bench.load(t) for t in pair)
        html = render.compare_html(left.task, (pair[0], left.turns), (pair[1], right.turns), md)
        return {
            self.ctx.sess: {**sess, "pair": [*pair, time.monotonic()]},
            self.view.pair: html,
            self.view.message: msg,
            self.view.progress: progress,
        }

    def on_verdict(self, verdict: str):
        def handler(sess, md, request: gr.Request):
            pair = sess.get("pair")
            if not pair:
                return {self.view.message: err("No pair on screen.")}
            left, right, since = pair
            seconds = round(time.monotonic() - since, 3)
            try:
                self.ctx.bench.record_comparison(self.ctx.who(request), left, right, verdict, seconds)
            except ReviewError as exc:
                return self.show_pair(sess, md, err(str(exc)), request)
            with self.ctx.bench.db() as store:
                no_pair = compare_outcome(store.con, left, right)
            return self.show_pair(sess, md, recorded_html(verdict, left, right, no_pair), request)

        return handler

    def on_next_pair(self, sess, md, request: gr.Request):
        pair = sess.get("pair")
        if pair:
            sess = {**sess, "cmp_passed": [*sess.get("cmp_passed", ()), pair[:2]]}
        return self.show_pair(sess, md, "", request)

    def on_tab(self, sess, md, request: gr.Request):
        if sess.get("pair"):
            return gr.skip()
        return self.show_pair(sess, md, "", request)

    def wire(self) -> None:
        inputs, hidden = [self.ctx.sess, self.ctx.markdown], {"show_progress": "hidden"}
        for verdict, button in self.view.verdicts.items():
            button.click(self.on_verdict(verdict), inputs, self.outputs, **hidden)
        self.view.next_pair.click(self.on_next_pair, inputs, self.outputs, **hidden)
        self.view.tab.select(self.on_tab, inputs, self.outputs, **hidden)


def build(ctx: TabContext) -> None:
    """The Compare tab inside the app's Tabs."""
    CompareHandlers(ctx, _layout()).wire()
