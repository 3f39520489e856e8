"""The Data tab: near-duplicate clusters, coverage, a map of the embeddings, and the minimum training window
curve (`window_panel`).

Everything shown comes from the library (`curator.similarity`, `curator.coverage`); this module
only lays it out. The map is the embeddings' first two principal components (PCA), drawn as an
SVG whose points carry their trajectory id: a click sends the id to the server (`trigger` of a
`gr.HTML`), which opens that trajectory in the Review tab (`TabContext.open_in_review`), and
switches the browser to that tab. Embeddings missing from the store are
computed when the tab is refreshed (the app is the store's one writer), with progress shown.
"""

from __future__ import annotations

from html import escape

import gradio as gr
import numpy as np
import pandas as pd

from curator.app import window_panel
from curator.app.context import TabContext
from curator.app.workbench import Workbench
from curator.coverage import coverage, first_failure_tags
from curator.similarity import DEFAULT_THRESHOLD, Corpus, cluster_labels, clusters, corpus, redundant_pending

MAX_POINTS = 3000  # drawn on the map (a seeded sample beyond that)
WIDTH, HEIGHT, PAD = 720, 420, 14
STATUS_COLOURS = {
    "pending": "#94a3b8",
    "accepted": "#16a34a",
    "edited": "#2563eb",
    "failed": "#dc2626",
    "skipped": "#f59e0b",
}
PALETTE = ["#dc2626", "#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f", "#a16207"]
NO_TAG = "(no failure tag)"
MAP_JS = """element.addEventListener('click', (event) => {
  const point = event.target.closest('[data-traj]');
  if (!point) return;
  trigger('click', {traj: point.dataset.traj});
  document.querySelector('#review-pane-button')?.click();
});"""


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components, each axis signed so its largest loading is positive
    (the same data always gives the same picture)."""
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    centred = vectors - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    points = centred @ axes.T
    return np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])


def colours(c: Corpus, colour_by: str, tags: dict[int, str]) -> tuple[list[str], dict[str, str]]:
    """Each point's legend entry, and the legend (entry -> colour)."""
    if colour_by == "status":
        keys = list(c.statuses)
        return keys, {k: STATUS_COLOURS.get(k, "#64748b") for k in sorted(set(keys))}
    keys = [tags.get(int(t), NO_TAG) for t in c.traj_ids]
    named = sorted(set(keys) - {NO_TAG})
    legend = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(named)}
    return keys, {**legend, NO_TAG: "#cbd5e1"} if NO_TAG in keys else legend


def map_html(c: Corpus, colour_by: str, tags: dict[int, str], limit: int = MAX_POINTS) -> str:
    """The embedding map as SVG: one circle per trajectory (a seeded sample of `limit`)."""
    if not len(c):
        return '<div class="card">No trajectories yet: import some first.</div>'
    keys, legend = colours(c, colour_by, tags)
    shown = np.arange(len(c))
    if len(c) > limit:
        shown = np.sort(np.random.default_rng(0).choice(len(c), limit, replace=False))
    points = pca_2d(c.vectors())[shown]
    low, span = points.min(axis=0), np.ptp(points, axis=0) + 1e-9
    xy = PAD + (points - low) / span * [WIDTH - 2 * PAD, HEIGHT - 2 * PAD]
    circles = "".join(
        f'<circle class="map-point" data-traj="{int(c.traj_ids[i])}" cx="{x:.1f}" cy="{HEIGHT - y:.1f}" '
        f'r="4" fill="{legend[keys[i]]}"><title>#{int(c.traj_ids[i])} · {escape(c.statuses[i])} · '
        f"{escape(keys[i] if colour_by != 'status' else c.tool_sequences[i] or 'no tool call')}"
        "</title></circle>"
        for i, (x, y) in zip(shown, xy, strict=True)
    )
    items = "".join(
        f'<span class="legend-item" style="margin-right:12px"><i style="display:inline-block;'
        f'width:10px;height:10px;border-radius:50%;margin-right:4px;background:{colour}"></i>'
        f"{escape(key)}</span>"
        for key, colour in legend.items()
    )
    note = f"{len(shown)} of {len(c)} trajectories shown (a fixed sample). " if len(shown) < len(c) else ""
    return (
        f'<svg id="data-map-svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        'style="max-height:480px;border:1px solid #e2e8f0;border-radius:6px;cursor:pointer" '
        f'aria-label="map of trajectories">{circles}</svg>'
        f'<div class="legend">{items}</div><div class="meta">{note}PCA of instruction and action '
        "embeddings; near points act alike. Click a point to open it in Review.</div>"
    )


def clusters_frame(found: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "cluster": cluster["cluster"],
                "size": cluster["size"],
                "statuses": ", ".join(f"{n} {s}" for s, n in cluster["statuses"].items()),
                "tool sequence": cluster["tool_sequence"] or "(no tool call)",
                "trajectories": " ".join(str(m["traj_id"]) for m in cluster["members"]),
            }
            for cluster in found
        ],
        columns=["cluster", "size", "statuses", "tool sequence", "trajectories"],
    )


def counts_frame(rows: list[dict], what: str) -> pd.DataFrame:
    columns = ["name", "trajectories", "accepted", "failed", "pending"]
    return pd.DataFrame([{k: r[k] for k in columns} for r in rows], columns=columns).rename(
        columns={"name": what}
    )


def summary_html(n: int, found: list[dict], skippable: list[int], cov: dict) -> str:
    few = cov["few_accepted"]
    held = sum(cluster["size"] for cluster in found)
    return (
        f'<div class="card" id="data-summary-text">{len(found)} near-duplicate clusters hold {held} of '
        f"{n} trajectories. Skipping near-duplicates of decided items (the Review tab's switch) would save "
        f"<b>{len(skippable)}</b> reviews. Fewer than {few['below']} accepted examples: tools "
        f"{escape(', '.join(few['tools']) or 'none')}; task families "
        f"{escape(', '.join(few['families']) or 'none')}.</div>"
    )


def view(bench: Workbench, colour_by: str, threshold: float, progress=None) -> list:
    """Everything the tab shows: summary, map, clusters, families, tools, tool sequences."""
    with bench.db() as store:
        c = corpus(store, progress=progress)
        labels = cluster_labels(c, threshold)
        found, skippable = clusters(c, labels), redundant_pending(store.con, threshold)
        cov = coverage(store)
        tags = first_failure_tags(store.con)
    return [
        summary_html(len(c), found, skippable, cov),
        map_html(c, colour_by, tags),
        clusters_frame(found),
        counts_frame(cov["families"], "task family"),
        counts_frame(cov["tools"], "tool"),
        counts_frame(cov["tool_sequences"], "tool sequence"),
    ]


def build(ctx: TabContext) -> None:
    """The Data tab inside the app's Tabs; a click on a map point opens it in Review (through
    `ctx.open_in_review`, which the Review tab sets; the browser switches tabs itself)."""
    with gr.Tab("Data", id="data", elem_id="data-pane") as tab:
        with gr.Row():
            colour_by = gr.Radio(
                ["status", "failure tag"], value="status", label="colour by", elem_id="data-colour"
            )
            threshold = gr.Slider(
                0.8,
                1.0,
                value=DEFAULT_THRESHOLD,
                step=0.01,
                label="near-duplicate threshold",
                elem_id="data-threshold",
            )
            refresh = gr.Button("Refresh", elem_id="data-refresh", scale=0)
        summary = gr.HTML(elem_id="data-summary", js_on_load=None)
        world = gr.HTML(elem_id="data-map", js_on_load=MAP_JS)
        clicked = gr.Number(visible=False, precision=0, elem_id="data-clicked")
        table = gr.Dataframe(label="Near-duplicate clusters", interactive=False, elem_id="data-clusters")
        with gr.Row():
            families = gr.Dataframe(label="Task families", interactive=False, elem_id="data-families")
            tools = gr.Dataframe(label="Tools", interactive=False, elem_id="data-tools")
        sequences = gr.Dataframe(label="Tool sequences", interactive=False, elem_id="data-sequences")
        window_panel.build(ctx, tab)
    outputs = [summary, world, table, families, tools, sequences]
    bench = ctx.bench

    def on_refresh(colour, cut, progress=gr.Progress()):  # noqa: B008  (Gradio injects it)
        return view(bench, colour, cut, lambda fraction, message: progress(fraction, desc=message))

    def on_click(evt: gr.EventData):
        return int(evt.traj)

    for event in (tab.select, refresh.click, colour_by.change, threshold.release):
        event(on_refresh, [colour_by, threshold], outputs)
    picked = world.click(on_click, None, clicked, show_progress="hidden")
    if ctx.open_in_review is not None:
        ctx.open_in_review(picked, clicked)
