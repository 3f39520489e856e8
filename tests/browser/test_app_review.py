"""The review app in a real browser: keyboard decisions, edit with diff, fail, undo, compare;
after each run the store holds exactly the events the reviewer's actions should have written."""

from __future__ import annotations

import orjson
import pytest
from conftest import chat_record, write_jsonl

from browser.conftest import screenshot, shows

pytestmark = pytest.mark.slow


def on_screen(page) -> str:
    return page.get_attribute("#cards .traj", "data-traj")


def press_and_wait(page, key: str) -> str:
    """Press a key and wait until another trajectory is on screen; returns its id."""
    before = on_screen(page)
    page.keyboard.press(key)
    page.wait_for_function(
        "b => { const t = document.querySelector('#cards .traj'); return t && t.dataset.traj !== b }",
        arg=before,
    )
    return on_screen(page)


def weather(task: str, city: str, final: str, label: str = "success") -> dict:
    return chat_record(
        task, [(f"Look up {city}.", "get_weather", {"city": city}, "sunny, 21C")], final, label
    )


def test_keyboard_review_edit_fail_undo_compare(tmp_path, serve, page_of):
    source = write_jsonl(
        tmp_path / "flow.jsonl",
        [
            weather("t-accept", "Paris", "Sunny in Paris."),
            weather("t-edit", "Rome", "Sunny in Rome."),
            chat_record(
                "t-fail",
                [
                    ("Look up Oslo.", "get_weather", {"city": "Oslo"}, "snow"),
                    ("Again.", "get_weather", {"city": "Oslo"}, "snow"),
                ],
                "It is sunny in Oslo.",
                "failure",
            ),
            weather("t-skip", "Lima", "Sunny in Lima."),
            weather("t-cmp", "Kyiv", "Sunny in Kyiv."),
            weather("t-cmp", "Kyiv", "Kyiv: sunny, 21C."),
        ],
    )
    server = serve(source)
    page = page_of(server.url)
    page.wait_for_selector("#cards .traj[data-traj='1']")
    screenshot(page, "review")

    # accept by keyboard
    assert press_and_wait(page, "a") == "2"
    assert "Accepted #1" in page.inner_text("#message")

    # edit: pick step 1 on its card, open the editor, invalid input is refused inline
    page.click("#cards .step[data-step='0']")
    page.keyboard.press("e")
    page.wait_for_selector("#edit-panel", state="visible")
    page.fill("#edit-thought textarea", "Check the forecast as asked; safe and fast.")

    def check_arguments(text: str, shown: str) -> str:
        """Type new arguments into the editor, check them, and return the inline message."""
        page.click("#edit-args .cm-content")
        page.keyboard.press("Control+A")
        page.keyboard.type(text)
        page.click("#edit-check")
        page.wait_for_function(f"document.querySelector('#edit-error').innerText.includes({shown!r})")
        return page.inner_text("#edit-error")

    assert "not valid JSON" in check_arguments('{"city": ', "JSON")
    assert "missing required argument 'city'" in check_arguments('{"town": "Roma"}', "schema")
    check_arguments('{"city": "Roma"}', "valid")
    diff = page.inner_text("#edit-diff")
    assert "+step 1 thought: Check the forecast as asked; safe and fast." in diff
    assert "-step 1 thought: Look up Rome." in diff
    assert '+step 1 call: get_weather {"city": "Roma"}' in diff
    screenshot(page, "edit")
    page.click("#edit-save")
    page.wait_for_function("document.querySelector('#cards .traj').dataset.traj === '3'")
    assert "Saved revision 1 of #2" in page.inner_text("#message")

    # typing in a text field decides nothing
    page.click("#fail-note textarea")
    page.keyboard.type("safe")
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    assert on_screen(page) == "3"

    # fail: tag 2 (bad_arguments), step 2 picked with j j
    page.keyboard.press("2")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.input_value("#first-step input") == "2"
    screenshot(page, "fail")
    assert press_and_wait(page, "f") == "4"

    # undo brings it back, with its timeline
    assert press_and_wait(page, "u") == "3"
    assert "Undid your last decision on #3" in page.inner_text("#message")
    page.wait_for_function("document.querySelector('#timeline').innerText.includes('undone')")

    # fail again: tag 1, first step picked by clicking its card; a note
    page.keyboard.press("1")
    page.click("#cards .step[data-step='0']")
    page.fill("#fail-note textarea", "called the tool twice")
    page.evaluate("document.activeElement.blur()")
    assert press_and_wait(page, "f") == "4"
    assert press_and_wait(page, "s") == "5"

    # compare: the two runs of t-cmp side by side
    page.click("#compare-pane-button")
    page.wait_for_selector("#cmp .compare")
    left = page.get_attribute("#cmp .compare", "data-left")
    right = page.get_attribute("#cmp .compare", "data-right")
    assert {left, right} == {"5", "6"}
    assert page.locator("#cmp .cmp-row.differs").count() >= 1
    assert "Pair 1 of 1" in page.inner_text("#cmp-progress")
    screenshot(page, "compare")
    page.keyboard.press("l")
    page.wait_for_function("document.querySelector('#cmp-message').innerText.includes('Recorded')")
    assert "will be a preference pair" in page.inner_text("#cmp-message")
    assert page.incidents == []

    events = server.events()
    got = [(e["traj_id"], e["kind"], e["tags"], e["first_step"], e["note"]) for e in events]
    assert got == [
        (1, "accept", [], None, None),
        (2, "edit", None, None, None),
        (3, "fail", ["bad_arguments"], 1, "safe"),  # the note typed above
        (3, "undo", None, None, None),
        (3, "fail", ["wrong_tool"], 0, "called the tool twice"),
        (4, "skip", [], None, None),
        (int(left), "compare", None, None, None),
    ]
    assert events[3]["undoes"] == events[2]["event_id"]
    assert (events[-1]["other_traj_id"], events[-1]["verdict"]) == (int(right), "left")
    assert all(e["reviewer"] for e in events)
    assert all(e["seconds"] and e["seconds"] > 0 for e in events if e["kind"] != "undo")
    revisions = server.query("SELECT number, turns FROM revisions WHERE traj_id = 2 ORDER BY 1")
    assert [n for n, _ in revisions] == [0, 1]
    original, edited = (orjson.loads(t) for _, t in revisions)
    assert original[0]["thought"] == "Look up Rome."
    assert edited[0]["thought"] == "Check the forecast as asked; safe and fast."
    assert edited[0]["tool_calls"][0]["arguments"] == {"city": "Roma"}
    assert server.query("SELECT status FROM state ORDER BY traj_id") == [
        ("accepted",),
        ("edited",),
        ("failed",),
        ("skipped",),
        ("pending",),
        ("pending",),
    ]


def test_skipping_near_duplicates_of_decided_items(tmp_path, serve, page_of):
    """The switch embeds what is missing, shows the reviews it saves, and the queue (its total and
    what it shows) leaves out exactly those."""
    from curator.ingest import import_file
    from curator.review import decide
    from curator.store import Store

    records = [
        weather(f"w{i}", city, f"It is {20 + i} C in {city}.") for i, city in enumerate(("Paris", "Rome"))
    ]
    again = [("Checking Paris.", "get_weather", {"city": "Paris"}, "sunny, 21C")]
    records.append(chat_record("w0", again, "It is 20 C in Paris."))  # #3: a near-duplicate of #1
    db = tmp_path / "store.duckdb"
    with Store(db) as store:  # #1 decided before the app starts; nothing embedded yet
        import_file(store, str(write_jsonl(tmp_path / "dups.jsonl", records)))
        decide(store, 1, "accept", "ana")
    server = serve(None, db=db)
    page = page_of(server.url)
    page.wait_for_selector("#cards .traj[data-traj='2']")
    shows(page, "#progress", "1 / 3 done")
    page.click("text=Queue filters")
    shows(page, "#filter-skip-dups", "3 trajectories not embedded yet")
    page.check("#filter-skip-dups input")
    shows(page, "#filter-skip-dups", "saves 1 review ", timeout_s=120)
    screenshot(page, "review-near-duplicates")
    assert "not embedded" not in page.inner_text("#filter-skip-dups")
    page.click("#filter-apply")
    shows(page, "#progress", "1 / 2 done")
    assert "near-duplicates of decided items skipped: 1." in page.inner_text("#message")
    page.keyboard.press("a")  # #2; then #3 is left out: nothing left
    shows(page, "#cards", "Nothing left")
    assert "Accepted #2" in page.inner_text("#message")

    page.uncheck("#filter-skip-dups input")  # off again: the near-duplicate is back
    page.click("#filter-apply")
    page.wait_for_selector("#cards .traj[data-traj='3']")
    shows(page, "#progress", "2 / 3 done")
    assert not page.incidents
