"""Import, Dashboard, Taxonomy and Export tabs in a real browser, while the app holds the store
(so `curator import` is refused in one line)."""

from __future__ import annotations

import pytest
from conftest import chat_record, run_cli, write_jsonl

from browser.conftest import screenshot
from browser.test_app_review import press_and_wait, weather

pytestmark = pytest.mark.slow


def test_import_dashboard_export_tabs(tmp_path, serve, page_of):
    server = serve(write_jsonl(tmp_path / "first.jsonl", [weather("t1", "Paris", "Sunny.")]))
    upload = write_jsonl(
        tmp_path / "more.jsonl",
        [
            weather("t1", "Paris", "Sunny."),  # a duplicate of the first file's record
            weather("t2", "Rome", "Sunny in Rome."),
            chat_record("t2", [("Look.", "get_weather", {"city": "Rome"}, "rain")], "Sunny!", "failure"),
        ],
    )
    with upload.open("a") as fh:
        fh.write("{not json\n")

    busy = run_cli("import", str(upload), db=server.db)
    assert busy.returncode == 1
    assert len(busy.stderr.strip().splitlines()) == 1 and "curator serve" in busy.stderr

    page = page_of(server.url)
    page.wait_for_selector("#cards .traj[data-traj='1']")
    page.click("#import-pane-button")
    page.set_input_files("#import-files input[type=file]", str(upload))
    page.click("#import-btn")
    page.wait_for_function("document.querySelector('#import-summary').innerText.includes('openai')")
    summary = page.inner_text("#import-summary")
    assert "openai" in summary and "2" in summary  # 2 imported, 1 duplicate, 1 quarantined
    page.wait_for_function("document.querySelector('#quarantine').innerText.includes('line 4')")
    screenshot(page, "import")

    page.click("#review-pane-button")
    assert press_and_wait(page, "a") == "2"
    page.keyboard.press("3")
    page.keyboard.press("j")
    press_and_wait(page, "f")

    page.click("#dashboard-pane-button")
    page.wait_for_function("document.querySelector('#dash-summary').innerText.includes('3 trajectories')")
    page.click("#taxonomy-pane-button")
    page.wait_for_function("document.querySelector('#tax-table').innerText.includes('wrong_tool')")
    assert "Version 1 in force" in page.inner_text("#tax-info")

    page.click("#export-pane-button")
    page.fill("#ex-name :is(input, textarea)", "ui-export")
    page.click("#ex-preview")
    page.wait_for_function("document.querySelector('#ex-message').innerText.includes('Pairs')")
    page.click("#ex-export")
    page.wait_for_function("document.querySelector('#ex-message').innerText.includes('Exported')")
    page.wait_for_function("document.querySelector('#ex-recent').innerText.includes('ui-export')")
    screenshot(page, "export")
    page.fill("#ex-name :is(input, textarea)", "../escape")
    page.click("#ex-export")
    page.wait_for_function("document.querySelector('#ex-message').innerText.includes('outside')")
    assert page.incidents == []

    out = server.db.parent / "exports" / "ui-export"
    assert (
        (out / "manifest.json").is_file()
        and (out / "sft" / "train.jsonl").exists()
        or (out / "sft" / "eval.jsonl").exists()
    )
    assert not (server.db.parent / "escape").exists()
    assert [(e["traj_id"], e["kind"], e["tags"]) for e in server.events()] == [
        (1, "accept", []),
        (2, "fail", ["hallucinated_tool"]),
    ]
    assert server.query("SELECT count(*) FROM trajectories")[0][0] == 3
    assert server.query("SELECT location FROM quarantine")[0][0] == "line 4"
