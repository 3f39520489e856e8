"""What every tab's `build` gets: the store (through the `Workbench`), where exports and runs go,
who is asking, and the few components tabs share.

A browser session keeps what it has on screen in one `gr.State` dict (`sess`): the item shown
(`shown`), the queue filters (`filters`), second reviews passed (`passed`), the edit's working
copy (`original`, `working`, `edit_step`, `edit_call`), and the compare pair (`pair`, `cmp_passed`).
The reviewer is the login name, or the local user when the app runs without logins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from curator.app.workbench import Shown, Workbench
from curator.queue import QueueFilters


@dataclass
class TabContext:
    bench: Workbench
    local_user: str
    exports_root: Path
    runs_root: Path
    app: gr.Blocks  # for events on page load
    sess: gr.State  # the browser session's dict (see the module docstring)
    markdown: gr.Checkbox  # the reviewer's "render markdown" toggle, shown on the Review tab
    # Set by the Review tab: `open_in_review(event, number)` chains to `event` showing the
    # trajectory whose id `number` holds in Review (another tab's "open this one").
    open_in_review: Callable | None = None

    def who(self, request: gr.Request | None) -> str:
        """The reviewer making this request."""
        return request.username if request is not None and request.username else self.local_user

    def taxonomy_tags(self) -> list[str]:
        with self.bench.db() as store:
            return [t["tag"] for t in store.taxonomy()]


def shown_of(sess: dict) -> Shown | None:
    """The item on screen in this session, if any."""
    return Shown(**sess["shown"]) if sess.get("shown") else None


def filters_of(sess: dict) -> QueueFilters:
    return QueueFilters(**sess.get("filters", {}))
