"""The Data tab in a real browser: the map renders one point per trajectory, clusters and
coverage are listed, and a click on a point opens that trajectory in Review; the minimum training
window button starts a curve whose table and plot appear when it is done, and again after a reload."""

from __future__ import annotations

import pytest
from conftest import chat_record, write_jsonl

from browser.conftest import screenshot, shows
from browser.test_app_review import weather

pytestmark = pytest.mark.slow


def test_data_tab_map_clusters_and_open_in_review(tmp_path, serve, page_of):
    records = [
        weather(f"w{i}", city, f"It is {20 + i} C in {city}.")
        for i, city in enumerate(("Paris", "Rome", "Oslo"))
    ]
    again = [("Checking Paris.", "get_weather", {"city": "Paris"}, "sunny, 21C")]
    records.append(chat_record("w0", again, "It is 20 C in Paris."))  # a near-duplicate of #1
    server = serve(write_jsonl(tmp_path / "set.jsonl", records))
    page = page_of(server.url)
    page.wait_for_selector("#cards .traj[data-traj='1']")
    page.click("#data-pane-button")
    page.wait_for_selector("#data-map circle.map-point", timeout=120_000)
    assert page.locator("#data-map circle.map-point").count() == 4
    page.wait_for_function("document.querySelector('#data-summary').innerText.includes('1 near-duplicate')")
    assert "get_weather" in page.inner_text("#data-tools")
    screenshot(page, "data")

    page.click("#data-map circle.map-point[data-traj='3']")
    page.wait_for_selector("#cards .traj[data-traj='3']")
    assert page.locator("#review-pane").is_visible()
    assert "Opened #3." in page.inner_text("#message")
    assert not page.incidents


def test_minimum_window_curve_runs_from_the_data_tab(curated, tiny_base, serve, page_of):
    server = serve(None, db=curated)
    page = page_of(server.url)
    page.wait_for_selector("#cards .traj")
    page.click("#data-pane-button")
    shows(page, "#wc-phase", "No curve yet")
    page.fill("#wc-base :is(input, textarea)", str(tiny_base))
    page.fill("#wc-fractions :is(input, textarea)", "0.5")
    page.fill("#wc-max-steps :is(input, textarea)", "1")
    page.fill("#wc-eval-tasks input", "2")
    page.click("#wc-start")
    shows(page, "#wc-message", "Curve window-0001 started", timeout_s=120)
    shows(page, "#wc-phase", "window-0001 · running")
    shows(page, "#wc-phase", "window-0001 · succeeded", timeout_s=600)
    assert "no window to find" in page.inner_text("#wc-phase")  # a random model gains nothing
    table = page.inner_text("#wc-table")
    assert all(row in table for row in ("base", "diverse 50%", "random 50%", "all"))
    page.wait_for_selector("#wc-plot .matplotlib img")  # the curve (the empty plot shows only an icon)
    screenshot(page, "data-window")
    assert not page.incidents

    page.reload()  # the finished curve is shown again, from its folder
    page.wait_for_selector("#cards .traj")
    page.click("#data-pane-button")
    shows(page, "#wc-phase", "window-0001 · succeeded")
    assert "random 50%" in page.inner_text("#wc-table")
