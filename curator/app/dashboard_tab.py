"""The Dashboard tab: where the review stands, what fails, who decides how fast, how far reviewers
agree, the share of decided items that go to a blind second reviewer, and the latest decisions
(each #id opens that trajectory in Review)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import gradio as gr
import pandas as pd

from curator.agreement import kappa_text
from curator.app.context import TabContext
from curator.app.render import timeline_html
from curator.queue import set_second_review_share
from curator.review import recent_events
from curator.stats import STATUSES, failure_tag_counts, store_stats, throughput


def summary_html(stats: dict) -> str:
    return (
        f'<div class="progress">{stats["trajectories"]} trajectories of {stats["tasks"]} '
        f"tasks · {stats['quarantined']} quarantined · agreement (Cohen's kappa): "
        f'<b id="kappa">{escape(kappa_text(stats["agreement"]))}</b></div>'
    )


def figures(stats: dict, tags: list[dict], decisions: list[dict]) -> dict[str, pd.DataFrame]:
    """The plots' and the throughput table's frames."""
    frame = pd.DataFrame(decisions, columns=["reviewer", "day", "decisions", "median_seconds"])
    return {
        "status": pd.DataFrame({"status": list(STATUSES), "trajectories": [stats[s] for s in STATUSES]}),
        "tags": pd.DataFrame(tags, columns=["tag", "failures"]),
        "pairs": pd.DataFrame({"source": list(stats["pairs"]), "pairs": list(stats["pairs"].values())}),
        "throughput": frame,
    }


def share_saved_html(value: float) -> str:
    return f'<div class="ok">{value:.0%} of decided items now go to a second reviewer.</div>'


@dataclass
class DashboardView:
    tab: gr.Tab
    refresh: gr.Button
    summary: gr.HTML
    status: gr.BarPlot
    tags: gr.BarPlot
    pairs: gr.BarPlot
    throughput_plot: gr.BarPlot
    throughput: gr.Dataframe
    share: gr.Slider
    share_save: gr.Button
    recent: gr.HTML


def _plots() -> tuple[gr.BarPlot, ...]:
    with gr.Row():
        status = gr.BarPlot(x="status", y="trajectories", title="By status", elem_id="plot-status")
        tags = gr.BarPlot(
            x="tag",
            y="failures",
            title="Failure tags",
            sort="-y",
            y_lim=[0, None],
            x_label_angle=-40,
            elem_id="plot-tags",
        )
    with gr.Row():
        pairs = gr.BarPlot(x="source", y="pairs", title="Pairs available by source", elem_id="plot-pairs")
        throughput = gr.BarPlot(
            x="day",
            y="decisions",
            color="reviewer",
            title="Decisions per reviewer and day",
            elem_id="plot-throughput",
        )
    return status, tags, pairs, throughput


def _layout() -> DashboardView:
    with gr.Tab("Dashboard", id="dashboard", elem_id="dashboard-pane") as tab:
        refresh = gr.Button("Refresh", elem_id="dash-refresh")
        summary = gr.HTML(elem_id="dash-summary", js_on_load=None)
        status, tags, pairs, throughput_plot = _plots()
        throughput = gr.Dataframe(
            label="Throughput (median seconds per item)", interactive=False, elem_id="throughput"
        )
        with gr.Row():
            share = gr.Slider(
                0,
                1,
                step=0.05,
                label="share of decided items routed to a second reviewer (blind to the first decision)",
                elem_id="second-share",
            )
            share_save = gr.Button("Save share", elem_id="second-share-save")
        with gr.Accordion("Latest decisions (click an #id to open it in Review)", open=True):
            recent = gr.HTML(elem_id="dash-recent", js_on_load=None)
    return DashboardView(
        tab, refresh, summary, status, tags, pairs, throughput_plot, throughput, share, share_save, recent
    )


def build(ctx: TabContext) -> None:
    """The Dashboard tab inside the app's Tabs; its figures are drawn when it is opened."""
    v = _layout()

    def on_dashboard():
        with ctx.bench.db() as store:
            stats = store_stats(store)
            f = figures(stats, failure_tag_counts(store), throughput(store))
            recent = recent_events(store)
        return {
            v.recent: timeline_html(recent, with_ids=True),
            v.summary: summary_html(stats),
            v.status: f["status"],
            v.tags: f["tags"],
            v.pairs: f["pairs"],
            v.throughput_plot: f["throughput"][["day", "reviewer", "decisions"]],
            v.throughput: f["throughput"],
            v.share: stats["agreement"]["second_review_share"],
        }

    def on_share(value):
        with ctx.bench.db() as store:
            set_second_review_share(store, float(value))
        return share_saved_html(value)

    outputs = [v.summary, v.status, v.tags, v.pairs, v.throughput_plot, v.throughput, v.share, v.recent]
    v.refresh.click(on_dashboard, None, outputs)
    v.tab.select(on_dashboard, None, outputs)
    v.share_save.click(on_share, [v.share], [v.summary])
