"""A reviewer's longer session at 1280x720: code in arguments reads as code, the action panel stays
in view on a long trajectory, `e` brings the editor into view with the focus in it, a skipped item
comes back and a decided one is opened by id and decided again, a new tag shows up without a
reload; the dashboard opens what it lists."""

from __future__ import annotations

import pytest
from conftest import chat_record, write_jsonl

from browser.conftest import screenshot
from browser.test_app_review import on_screen, press_and_wait, weather

pytestmark = pytest.mark.slow

CODE = 'def greet(name):\n    print(f"Grüße, {name}")\n'


def in_view(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720


def test_long_item_code_editor_sticky_panel_reopen_and_new_tag(tmp_path, serve, page_of):
    long_steps = [
        (f"Write module {i}.", "write_file", {"path": f"m{i}.py", "content": CODE}, "ok") for i in range(30)
    ]
    source = write_jsonl(
        tmp_path / "day.jsonl",
        [
            chat_record("long", long_steps, "All written."),
            weather("t2", "Rome", "Sunny in Rome."),
            weather("t3", "Oslo", "Snow in Oslo."),
        ],
    )
    server = serve(source)
    page = page_of(server.url)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.wait_for_selector("#cards .traj[data-traj='1']")

    # code in the arguments: its real lines and characters, no JSON escapes
    block = page.inner_text("#cards .step[data-step='0'] .args .block")
    assert block.strip() == CODE.strip() and "\\n" not in page.inner_text("#cards .step[data-step='0']")
    screenshot(page, "review-long")

    # far down a long trajectory, the decision buttons are still on screen
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(200)
    assert page.evaluate("window.scrollY") > 1000
    assert in_view(page, "#btn-accept") and in_view(page, "#fail-tags")

    # e: the editor in view, the focus in its first field; Esc from there leaves it
    page.evaluate("window.scrollTo(0, 0)")
    page.keyboard.press("e")
    page.wait_for_function("document.activeElement?.closest('#edit-thought') !== null")
    assert in_view(page, "#edit-thought textarea")
    page.keyboard.press("Escape")
    page.wait_for_selector("#edit-panel", state="hidden")

    # a skip puts an item off: it comes back after the pending ones
    assert press_and_wait(page, "s") == "2"
    assert press_and_wait(page, "a") == "3"
    assert press_and_wait(page, "a") == "1"
    assert "skipped" in page.inner_text("#cards .meta")

    # a decided item opened by id and decided again (a new event; the accept stays in history)
    page.fill("#open-id :is(input, textarea)", "2")
    page.press("#open-id :is(input, textarea)", "Enter")
    page.wait_for_function("document.querySelector('#cards .traj').dataset.traj === '2'")
    assert "Opened #2. Its status: accepted" in page.inner_text("#message")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("1")
    page.keyboard.press("j")
    press_and_wait(page, "f")

    # the dashboard lists the latest decisions; an #id opens it in Review; s there moves on only
    page.click("#dashboard-pane-button")
    page.click("#dash-recent [data-open='2']")
    page.wait_for_function("document.querySelector('#cards .traj').dataset.traj === '2'")
    assert "failed" in page.inner_text("#cards .meta") and "Opened #2" in page.inner_text("#message")
    assert press_and_wait(page, "s") == "1"

    # a tag saved in Taxonomy is offered in Review without a reload; a tag needs a description
    page.click("#taxonomy-pane-button")
    page.wait_for_function("document.querySelector('#tax-table').innerText.includes('wrong_tool')")
    page.fill("#tax-new-tag :is(input, textarea)", "slow_tool")
    page.click("#tax-add")
    page.wait_for_function("document.querySelector('#tax-info').innerText.includes('needs a description')")
    page.fill("#tax-new-desc :is(input, textarea)", "a tool call that took far too long")
    page.click("#tax-add")
    page.wait_for_function("document.querySelector('#tax-info').innerText.includes('version 2 in force')")
    page.click("#review-pane-button")
    page.wait_for_function("document.querySelector('#fail-tags').innerText.includes('slow_tool')")
    assert on_screen(page) == "1"  # still skipped: back after the pending ones

    # an empty queue offers nothing to decide
    assert press_and_wait(page, "a") == ""
    assert page.is_disabled("#btn-accept") and page.is_disabled("#btn-fail")
    assert page.evaluate("localStorage.length") == 0  # no run history: no content kept, no slowdown
    assert page.incidents == []
    events = server.events()
    assert [(e["traj_id"], e["kind"]) for e in events] == [
        (1, "skip"),
        (2, "accept"),
        (3, "accept"),
        (2, "fail"),
        (1, "accept"),
    ]
