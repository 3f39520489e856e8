"""Step-aware data: prefix salvage turns the good steps of a failed trajectory into SFT training turns (a
per-message `train` flag in the export; the trainer's loss falls on flagged turns only), counted in the manifest,
off unless asked, and old rows without the flag train as before."""

from __future__ import annotations

import orjson
from conftest_trainer import *  # fixtures (the real SmolLM2 tokenizer)
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
    flags = [(m["content"], m.get("train")) for m in shared["messages"] if m["role"] == "assistant"]
    assert flags == [("Check Oslo.", True), ("Sunny in Oslo.", False)]
    assert all("train" not in m for m in shared["messages"] if m["role"] != "assistant")

    export(db, tmp_path / "parquet", salvage=True, file_format="parquet")  # the flag has a column in the Arrow schema
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
    old = {**shared, "messages": [{k: v for k, v in m.items() if k != "train"} for m in shared["messages"]]}
    (plain,) = prepare(tokenizer, "sft", [Row("old:1", old)], 2048, show=0)
    assert [("Sunny in Oslo." in s) for s in trained_spans(tokenizer, plain)] == [False, True]
