"""The Data tab in a real browser: the map renders one point per trajectory, clusters and
coverage are listed, and a click on a point opens that trajectory in Review."""

from __future__ import annotations

import pytest
from conftest import chat_record, write_jsonl

from browser.conftest import screenshot
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
