"""The Gradio app: one tab per module in `TABS`, in order.

Each tab module has a `build(ctx)` that lays the tab out inside the app's `gr.Tabs` and wires its
handlers; handlers call the `Workbench` (review, queue) or a library function (import, export,
stats) and return a dict keyed by the components they change. Adding a tab is one line here.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from curator.app import (
    compare_tab,
    dashboard_tab,
    data,
    export_tab,
    generate_tab,
    import_tab,
    review_tab,
    taxonomy_tab,
    training,
)
from curator.app.context import TabContext
from curator.app.workbench import Workbench

STATIC = Path(__file__).resolve().parent / "static"
TABS = (
    review_tab,
    compare_tab,
    dashboard_tab,
    taxonomy_tab,
    import_tab,
    generate_tab,
    export_tab,
    training,
    data,
)


def build_app(bench: Workbench, *, local_user: str, exports_root: Path, runs_root: Path) -> gr.Blocks:
    """The app over one store. `local_user` names the reviewer when there are no logins."""
    with gr.Blocks(title="Trajectory Curator", analytics_enabled=False) as app:
        markdown = gr.Checkbox(  # rendered by the Review tab; the Compare tab reads it too
            label="render markdown (sanitized)",
            value=False,
            elem_id="md-toggle",
            scale=0,
            min_width=220,
            render=False,
        )
        ctx = TabContext(bench, local_user, exports_root, runs_root, app, gr.State({}), markdown)
        with gr.Tabs(elem_id="tabs"):
            for tab in TABS:
                tab.build(ctx)
    return app


def launch_options() -> dict:
    """The keyboard script and styles, passed to `launch` (Gradio 6 takes them there). No run
    history: Gradio would otherwise rewrite every call's outputs (whole trajectories) into the
    browser's localStorage at each key press, slower with every item and keeping the content."""
    return {
        "js": (STATIC / "keys.js").read_text(),
        "css": (STATIC / "style.css").read_text(),
        "run_history": False,
    }
