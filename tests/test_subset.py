"""`curator select` and `curator coverage`: budget, coverage, no near-duplicates, determinism,
and an export the trainer reads unchanged."""

from __future__ import annotations

import json

import pytest
from conftest import chat_record, cli_json, run_cli, write_jsonl
from conftest_trainer import tokenizer  # noqa: F401  (fixture)

from curator import similarity
from curator.coverage import coverage
from curator.ingest import import_file
from curator.review import bulk
from curator.store import Store
from curator.subset import choose, select_store
from trainer.data import check_export, load_rows, sft_example

CITIES = ("Paris", "Lyon", "Oslo", "Rome", "Bern", "Graz", "Kiel", "Nice")


def weather(task: str, city: str, answer: str, thought: str = "Checking.", **extra) -> dict:
    return chat_record(task, [(thought, "get_weather", {"city": city}, "{}")], answer, **extra)


def records() -> list[dict]:
    """Weather tasks (most of the set), a few near-duplicates of the first, one booking, one
    currency conversion (a tool only one trajectory calls), and failures."""
    rows = [
        weather(f"weather-{i:02d}", c, f"It is {10 + i} C in {c}.", label="success")
        for i, c in enumerate(CITIES)
    ]
    rows += [
        weather("weather-00", "Paris", "It is 10 C in Paris.", thought=t, label="success")
        for t in ("Let me look.", "Looking it up.", "One moment.")
    ]
    rows.append(
        chat_record(
            "book-01", [("Booking.", "book_flight", {"flight": "AZ1"}, "{}")], "Booked AZ1.", label="success"
        )
    )
    rows.append(
        chat_record(
            "convert-01",
            [("Converting.", "convert_currency", {"amount": 5}, "{}")],
            "5 EUR is 6 USD.",
            label="success",
        )
    )
    rows += [
        weather(f"weather-{i:02d}", c, "It is sunny.", label="failure") for i, c in enumerate(CITIES[:3])
    ]
    return rows


@pytest.fixture
def store_file(db, tmp_path):
    with Store(db) as store:
        import_file(store, str(write_jsonl(tmp_path / "set.jsonl", records())))
        bulk(store, "accept", "ana", source_label="success")
        bulk(store, "fail", "ana", source_label="failure", tags=["wrong_final_answer"])
    return db


def test_diverse_covers_every_tool_within_budget_and_never_two_near_duplicates(store_file):
    with Store(store_file) as store:
        accepted = similarity.corpus(store, ("accepted", "edited"))
        labels = similarity.cluster_labels(accepted)
        families = {}
        for budget in (3, 6, 11):
            ids = choose(accepted, budget, "diverse", 0, families, similarity.DEFAULT_THRESHOLD)
            assert len(ids) == min(budget, 10)  # 13 accepted, 4 of them one cluster: 10 distinct
            rows = [accepted.index[i] for i in ids]
            called = {tool for r in rows for tool in accepted.tool_sequences[r].split(" > ")}
            assert called == {"get_weather", "book_flight", "convert_currency"}
            assert len({int(labels[r]) for r in rows}) == len(rows)
        assert len(choose(accepted, 5, "random", 0, families, 0.95)) == 5
        assert len(choose(accepted, 5, "all", 0, families, 0.95)) == 13


def test_selection_is_deterministic_for_a_seed(store_file):
    with Store(store_file) as store:
        accepted = similarity.corpus(store, ("accepted", "edited"))
        for strategy in ("diverse", "random"):
            first = choose(accepted, 6, strategy, 7, {}, 0.95)
            assert first == choose(accepted, 6, strategy, 7, {}, 0.95)
        assert {tuple(choose(accepted, 6, "random", seed, {}, 0.95)) for seed in range(5)} != {tuple(first)}


@pytest.mark.slow
def test_selected_export_loads_in_the_trainer(store_file, tmp_path, tokenizer):  # noqa: F811
    out = tmp_path / "chosen"
    result = cli_json("select", "--budget", "5", "--seed", "3", "--out", str(out), db=store_file)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["selection"]["strategy"] == "diverse" and manifest["selection"]["seed"] == 3
    ids = manifest["selection"]["ids"]
    assert result["selection"]["ids"] == ids and len(ids) == 5
    assert sorted(r["traj_id"] for r in manifest["rows"]["sft"]) == ids
    assert not manifest["rows"]["kto"]  # failures were not chosen
    check_export(out)
    rows = load_rows(out, "sft", "train") + load_rows(out, "sft", "eval")
    assert len(rows) == 5
    for row in rows:
        assert any(label != -100 for label in sft_example(tokenizer, row)["labels"])


def test_select_all_and_bad_budget(store_file, tmp_path):
    with Store(store_file) as store:
        result = select_store(store, tmp_path / "all", budget=None, strategy="all")
    assert result["selection"]["chosen"] == 13 and sum(result["sft"].values()) == 13
    proc = run_cli("select", "--out", str(tmp_path / "x"), db=store_file)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: --budget must be a positive number of trajectories for --strategy diverse"
    )
    missing = tmp_path / "none.duckdb"
    for command in (["similar"], ["select", "--budget", "2", "--out", str(tmp_path / "y")]):
        proc = run_cli(*command, db=missing)
        assert proc.returncode == 1 and "no such store" in proc.stderr
        assert not missing.exists()


def test_coverage_counts_and_few_accepted(store_file):
    with Store(store_file, read_only=True) as store:
        result = coverage(store, few=2)
    tools = {row["name"]: row for row in result["tools"]}
    assert tools["get_weather"] == {
        "name": "get_weather",
        "trajectories": 14,
        "accepted": 11,
        "failed": 3,
        "pending": 0,
        "offered": True,
    }
    assert tools["book_flight"]["accepted"] == 1 and not tools["book_flight"]["offered"]
    families = {row["name"]: row["accepted"] for row in result["families"]}
    assert families == {"weather": 11, "book": 1, "convert": 1}
    assert result["failure_tags"] == [{"name": "wrong_final_answer", "failed": 3}]
    assert result["few_accepted"]["families"] == ["book", "convert"]
    assert result["few_accepted"]["tools"] == []  # book_flight is called but offered by no schema


@pytest.mark.slow
def test_similar_command_reports_clusters(store_file):
    result = cli_json("similar", db=store_file)
    assert result["clusters"] == 1
    (cluster,) = result["members"]
    assert cluster["statuses"] == {"accepted": 4}
    assert cluster["tool_sequence"] == "get_weather"
