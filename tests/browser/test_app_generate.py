"""The Generate tab in a real browser: a bad form is one line; a job on a user's environment file with a real
endpoint teacher (the scripted one of `tests/teacher.py`) runs in its own process, is followed to its summary,
keeps only successes, and what it kept is in the Review queue with the checker's label as a suggestion."""

from __future__ import annotations

import pytest
from teacher import STOCK, STOCK_TASKS

from browser.conftest import screenshot, shows

pytestmark = pytest.mark.slow


def wait_for_text(page, elem_id: str, text: str, timeout_s: float = 60) -> None:
    shows(page, f"#{elem_id}", text, timeout_s, message="#gen-message")


def test_generate_from_the_tab_then_review_what_came_in(scripted_teacher, serve, page_of):
    url, _ = scripted_teacher
    server = serve(None)  # an empty store: nothing to review yet
    page = page_of(server.url)
    page.wait_for_selector("#cards .traj.empty")
    page.click("#generate-pane-button")
    wait_for_text(page, "gen-phase", "No generation jobs yet")

    page.click("#gen-start")  # no endpoint URL yet
    wait_for_text(page, "gen-message", "endpoint URL must start with http")

    page.fill("#gen-env input", STOCK)
    page.keyboard.press("Enter")
    page.fill("#gen-task-file :is(input, textarea)", STOCK_TASKS)
    page.fill("#gen-url :is(input, textarea)", url)
    page.fill("#gen-model :is(input, textarea)", "scripted")
    page.click("#gen-keep label:has-text('successes only')")
    page.click("text=more settings")
    page.fill("#gen-max-steps input", "3")
    page.fill("#gen-max-tokens input", "64")
    page.click("#gen-start")
    wait_for_text(page, "gen-message", "Job 1 started")
    wait_for_text(page, "gen-phase", "succeeded")
    summary = page.inner_text("#gen-summary")
    assert "2 success · 1 failure · success rate 67%" in summary, summary
    assert "failures not kept: 1" in summary and "2 new trajectories" in summary
    assert "scripted" in page.inner_text("#gen-details") and "succeeded" in page.inner_text("#gen-jobs")
    assert "generate: 3/3" in page.input_value("#gen-log textarea")
    screenshot(page, "generate")

    page.click("#review-pane-button")  # the queue was empty: the new trajectories come up
    page.wait_for_selector("#cards .traj[data-traj='1']")
    header = page.inner_text("#cards .meta")
    assert "checker: success (reward 1)" in header and "teacher scripted" in header
    assert page.incidents == []
    rows = server.query(
        """SELECT t.source_format, t.source_label, count(*) FROM trajectories t
           JOIN state s USING (traj_id) WHERE s.status = 'pending' GROUP BY ALL"""
    )
    assert rows == [("generate", "success", 2)]
    assert server.query("SELECT count(*), count(*) FILTER (kept) FROM generated_episodes") == [(3, 2)]
