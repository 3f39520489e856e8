"""The review app (`curator serve`): a thin Gradio layer over `curator.review` and friends."""

from __future__ import annotations

from curator.app.ui import build_app, launch_options
from curator.app.workbench import Workbench

__all__ = ["Workbench", "build_app", "launch_options"]
