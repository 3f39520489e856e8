"""The Train tab in a real browser: one click exports the curated set and starts a run that is
followed live to its evaluation (base vs tuned); a second run is refused while one runs; a reload
shows the running run again; Cancel ends the job's whole process group."""

from __future__ import annotations

import os
import re

import pytest
from conftest import SAMPLE, cli_json

from browser.conftest import screenshot, shows

pytestmark = pytest.mark.slow


@pytest.fixture
def curated(tmp_path):
    db = tmp_path / "store.duckdb"
    cli_json("import", str(SAMPLE), db=db)
    cli_json("bulk", "accept", "--source-label", "success", db=db)
    cli_json("bulk", "fail", "--source-label", "failure", db=db)
    return db


def text_of(page, elem_id: str) -> str:
    return page.inner_text(f"#{elem_id}")


def wait_for_text(page, elem_id: str, text: str, timeout_s: float = 60) -> None:
    shows(page, f"#{elem_id}", text, timeout_s, message="#tr-message")


def open_train_tab(page) -> None:
    page.wait_for_selector("#cards .traj")
    page.click("#train-pane-button")
    page.wait_for_selector("#tr-train")


def choose(page, elem_id: str, value: str) -> None:
    page.click(f"#{elem_id} input")
    page.click(f"[role=option][aria-label='{value}']")
    assert page.input_value(f"#{elem_id} input") == value


def test_a_run_trains_and_shows_base_vs_tuned(curated, tiny_base, serve, page_of):
    server = serve(None, db=curated)
    page = page_of(server.url)
    open_train_tab(page)
    wait_for_text(page, "tr-phase", "No runs yet")
    assert "SmolLM2-135M-Instruct" in page.get_attribute("#tr-base textarea, #tr-base input", "placeholder")
    page.fill("#tr-base :is(input, textarea)", str(tiny_base))
    choose(page, "tr-preset", "cpu-smoke")
    page.fill("#tr-max-steps :is(input, textarea)", "2")
    page.fill("#tr-eval-tasks input", "2")
    page.check("#tr-each-epoch input")
    page.click("#tr-train")
    wait_for_text(page, "tr-message", "Run 1 started")
    wait_for_text(page, "tr-details", "cpu-smoke")
    wait_for_text(page, "tr-phase", "succeeded", timeout_s=240)
    wait_for_text(page, "tr-eval", "tuned")
    table = text_of(page, "tr-eval")
    assert "base" in table and "task success" in table and "valid tool call rate" in table
    runs = text_of(page, "tr-runs")
    assert "succeeded" in runs and "cpu-smoke" in runs and "sft" in runs
    assert all(page.is_visible(f"#{plot}") for plot in ("tr-loss", "tr-margins", "tr-epochs"))
    log = page.input_value("#tr-log textarea")
    assert "tuned: 2/2 (100%)" in log
    assert "Warning:" not in log and "█" not in log  # library warnings and raw bars left out
    page.set_viewport_size({"width": 1440, "height": 900})
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('#tr-runs .virtual-table-viewport, #tr-runs table')]"
        ".map(e => e.scrollWidth - e.clientWidth)"
    )
    assert overflow and max(overflow) <= 1, f"the runs table scrolls sideways at 1440 px: {overflow}"
    page.wait_for_selector("#tr-transcripts .transcripts .traj")
    # rows are `content-visibility: auto`: off screen they are not laid out and have no innerText
    page.locator("#tr-transcripts").scroll_into_view_if_needed()
    shows(page, "#tr-transcripts .cmp-head", "base: failed")  # a random model solves nothing
    shows(page, "#tr-transcripts .cmp-head", "tuned: failed")
    screenshot(page, "train")
    page.locator("#tr-transcripts").scroll_into_view_if_needed()
    screenshot(page, "train-results")
    assert page.incidents == []

    page.reload()  # the finished run is shown again, from the store
    open_train_tab(page)
    wait_for_text(page, "tr-phase", "Run 1 · succeeded")
    ((status, result),) = server.query("SELECT status, result FROM runs")
    assert status == "succeeded" and '"adapter"' in result


def test_second_run_refused_reload_and_cancel(curated, serve, page_of):
    server = serve(None, db=curated)
    page = page_of(server.url)
    open_train_tab(page)
    page.click("#tr-train")  # cpu-demo on the embedded SmolLM2: minutes, so it is still running
    wait_for_text(page, "tr-message", "Run 1 started")
    wait_for_text(page, "tr-phase", "running")
    page.click("#tr-train")
    wait_for_text(page, "tr-message", "still running")

    page.reload()  # the running run comes back, with its live view
    open_train_tab(page)
    wait_for_text(page, "tr-phase", "Run 1 · running")
    pid = int(re.search(r"process\s+(\d+)", text_of(page, "tr-details")).group(1))
    os.killpg(pid, 0)  # the job's process group is there

    page.click("#tr-cancel")
    wait_for_text(page, "tr-message", "Run 1 cancelled", timeout_s=30)
    wait_for_text(page, "tr-phase", "cancelled")
    assert "cancelled" in text_of(page, "tr-runs")
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert page.incidents == []
    assert server.query("SELECT status FROM runs") == [("cancelled",)]


def test_an_ablation_from_the_tab_shows_one_table_and_one_chart(curated, tiny_base, serve, page_of):
    server = serve(None, db=curated)
    page = page_of(server.url)
    open_train_tab(page)
    page.fill("#tr-base :is(input, textarea)", str(tiny_base))
    choose(page, "tr-preset", "cpu-smoke")
    page.fill("#tr-max-steps :is(input, textarea)", "1")
    page.fill("#tr-eval-tasks input", "1")
    page.check("#tr-ablation input")
    page.fill("#tr-variants :is(input, textarea)", "sft")
    page.click("#tr-train")
    wait_for_text(page, "tr-message", "Run 1 started")
    wait_for_text(page, "tr-phase", "ablation")
    assert "ablation: sft" in text_of(page, "tr-runs")
    wait_for_text(page, "tr-phase", "succeeded", timeout_s=900)
    wait_for_text(page, "tr-ablation-table", "sft")
    table = text_of(page, "tr-ablation-table")
    assert all(word in table for word in ("base", "sft", "success", "unknown tool", "peak MB"))
    page.wait_for_selector("#tr-ablation-chart img")
    assert not page.is_visible("#tr-loss") and not page.is_visible("#tr-results")
    assert "[3/3] done" in page.input_value("#tr-log textarea")
    page.locator("#tr-ablation-results").scroll_into_view_if_needed()
    screenshot(page, "train-ablation")
    assert page.incidents == []

    page.reload()  # the table comes back from the run's folder
    open_train_tab(page)
    wait_for_text(page, "tr-ablation-table", "sft")
    ((status, stages),) = server.query("SELECT status, stages FROM runs")
    assert (status, stages) == ("succeeded", "sft")
