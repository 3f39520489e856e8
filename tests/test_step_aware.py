"""Step-aware data: prefix salvage turns the good steps of a failed trajectory into SFT training turns (a
per-message `training` flag in the export; the trainer's loss falls on flagged turns only), counted in the manifest,
off unless asked, and old rows without the flag train as before."""

from __future__ import annotations

import orjson
from test_export import export, rows
from test_pairs import build_store

from trainer.data import Row, load_rows
from trainer.preflight import prepare, trained_spans


def test_prefix_salvage_rows_flag_the_steps_before_the_first_faulty_one(tmp_path, db):
    build_store(tmp_path, db)  # shared_bad and differ_bad: failed, first faulty step 1 (the final answer)
    plain = export(db, tmp_path / "plain")
    assert not [r for r in rows(tmp_path / "plain", "sft") if r["row_id"].startswith("sft-salvage-")]
    manifest = orjson.loads((tmp_path / "plain" / "manifest.json").read_bytes())
    assert manifest["salvage"] == {"enabled": False, "rows": 0, "trained_steps": 0}

    salvaged = export(db, tmp_path / "salvage", salvage=True)
    total = {k: salvaged["sft"][k] - plain["sft"][k] for k in ("train", "eval")}
    assert sum(total.values()) == 2
    manifest = orjson.loads((tmp_path / "salvage" / "manifest.json").read_bytes())
    assert manifest["salvage"] == {"enabled": True, "rows": 2, "trained_steps": 2}
    found = {
        r["row_id"]: r for r in rows(tmp_path / "salvage", "sft") if r["row_id"].startswith("sft-salvage-")
    }
    assert len(found) == 2
    lineage = [r for r in manifest["rows"]["sft"] if r["row_id"] in found]
    assert sorted(r["salvaged_steps"] for r in lineage) == [1, 1]
    shared = next(r for r in found.values() if any(m["content"] == "Sunny in Oslo." for m in r["messages"]))
    flags = [(m["content"], m.get("training")) for m in shared["messages"] if m["role"] == "assistant"]
    assert flags == [("Check Oslo.", True), ("Sunny in Oslo.", False)]
    assert all("training" not in m for m in shared["messages"] if m["role"] != "assistant")

    export(
        db, tmp_path / "parquet", salvage=True, file_format="parquet"
    )  # the flag has a column in the Arrow schema
    parquet = [
        r.data
        for r in load_rows(tmp_path / "parquet", "sft", "train")
        + load_rows(tmp_path / "parquet", "sft", "eval")
    ]
    assert sum(r["row_id"].startswith("sft-salvage-") for r in parquet) == 2


def test_the_trainer_learns_only_the_flagged_turns_and_decodes_them(tmp_path, db, tokenizer):
    build_store(tmp_path, db)
    export(db, tmp_path / "salvage", salvage=True)
    found = [r for r in rows(tmp_path / "salvage", "sft") if r["row_id"].startswith("sft-salvage-")]
    shared = next(r for r in found if any(m["content"] == "Sunny in Oslo." for m in r["messages"]))
    shared.pop("_split")
    said = []
    (example,) = prepare(tokenizer, "sft", [Row("salvage:1", shared)], 2048, show=1, say=said.append)
    spans = trained_spans(tokenizer, example)
    assert len(spans) == 1 and "Check Oslo." in spans[0] and "get_weather" in spans[0]
    assert spans[0].endswith("<|im_end|>")
    assert "Sunny in Oslo." not in tokenizer.decode(example["input_ids"])  # trailing context is not even fed
    assert any("1 assistant turn(s) are context" in line for line in said)
    assert any("train only their flagged assistant turns" in line for line in said)

    # the same row without flags (an old export) trains both assistant turns
    old = {
        **shared,
        "messages": [{k: v for k, v in m.items() if k != "training"} for m in shared["messages"]],
    }
    (plain,) = prepare(tokenizer, "sft", [Row("old:1", old)], 2048, show=0)
    assert [("Sunny in Oslo." in s) for s in trained_spans(tokenizer, plain)] == [False, True]


def test_stepwise_rows_label_the_steps_and_load_with_datasets(tmp_path, db):
    """`prm=True`: DIR/prm/ rows in TRL's stepwise-supervision format, one per accepted (all steps true) and
    failed trajectory (true before the first faulty step, false from it on), loadable with `datasets`."""
    from datasets import load_dataset

    build_store(tmp_path, db)
    export(db, tmp_path / "plain")
    assert not (tmp_path / "plain" / "prm").exists()  # opt-in
    result = export(db, tmp_path / "x", prm=True)
    assert sum(result["prm"].values()) == 3 + 2  # accepted/edited + failed
    files = {s: str(tmp_path / "x" / "prm" / f"{s}.jsonl") for s in ("train", "eval") if result["prm"][s]}
    loaded = load_dataset("json", data_files=files)
    found = [r for split in loaded.values() for r in split]
    assert all(set(r) >= {"prompt", "completions", "labels"} for r in found)
    assert all(len(r["completions"]) == len(r["labels"]) for r in found)
    shared_bad = next(r for r in found if r["completions"][-1] == "Sunny in Oslo.")
    assert shared_bad["labels"] == [True, False]
    assert shared_bad["prompt"].endswith("shared")  # the task's instruction
    assert shared_bad["completions"][0].startswith("Check Oslo.\n<tool_call>\n")
    assert shared_bad["completions"][0].endswith("<tool_response>\nrain\n</tool_response>")
    shared_ok = next(r for r in found if r["completions"][-1] == "Rain in Oslo.")
    assert shared_ok["labels"] == [True, True]
    export(db, tmp_path / "parquet", prm=True, file_format="parquet")
    assert (tmp_path / "parquet" / "prm" / "train.parquet").is_file()


def test_a_hallucinated_tool_failure_gives_its_dpo_negative(tmp_path, db):
    """A planted failure calls a tool the task does not offer (tagged hallucinated_tool, flagged by the unknown-tool
    check): the export pairs that call, as rejected, with the accepted same-task turn, as chosen."""
    from conftest import chat_record, write_jsonl

    from curator import review
    from curator.ingest import import_file
    from curator.store import Store

    good = chat_record("h", [("Check Oslo.", "get_weather", {"city": "Oslo"}, "rain")], "Rain in Oslo.")
    bad = chat_record(
        "h", [("Check Oslo.", "get_forecast", {"city": "Oslo"}, "error: unknown tool")], "Sorry."
    )
    path = write_jsonl(tmp_path / "planted.jsonl", [good, bad])
    with Store(db) as store:
        import_file(store, str(path))
        ids = dict(store.con.execute("SELECT source_record, traj_id FROM trajectories").fetchall())
        flagged = store.column("SELECT traj_id FROM checks WHERE \"check\" = 'unknown_tool'")
        assert flagged == [ids["line 2"]]
        review.decide(store, ids["line 1"], "accept", "ann")
        review.decide(store, ids["line 2"], "fail", "ann", tags=["hallucinated_tool"], first_step=0)
    export(db, tmp_path / "x")
    (pair,) = rows(tmp_path / "x", "dpo")
    offered = {t["function"]["name"] for t in orjson.loads(pair["tools"])}
    (rejected,) = pair["rejected"][0]["tool_calls"]
    (chosen,) = pair["chosen"][0]["tool_calls"]
    assert rejected["function"]["name"] == "get_forecast" and "get_forecast" not in offered
    assert chosen["function"]["name"] == "get_weather"
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
