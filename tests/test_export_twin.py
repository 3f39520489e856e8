"""The export's fast path (stored message JSON joined by DuckDB) against its readable twin
(`curator.rows`: each stored turn rendered, each row built as a dict): every file the export
writes is byte-identical to the twin's rows, on the hand-built store (edit, compare and same-task
pairs, failures), the sample set and the real public files."""

from __future__ import annotations

import orjson
from conftest import SAMPLE
from test_pairs import build_store

from curator import rows
from curator.export import export_store
from curator.ingest import import_file
from curator.model import Task
from curator.review import bulk
from curator.store import Store


def twin_files(store: Store, manifest: dict) -> dict[str, bytes]:
    """Each data file the export wrote, as the twin builds it from the stored turns and the
    manifest's lineage (which rows, in which order, cut where)."""
    con = store.con
    turns = {rev: orjson.loads(t) for rev, t in con.execute("SELECT rev_id, turns FROM revisions").fetchall()}
    task_of = dict(con.execute("SELECT traj_id, task_hash FROM trajectories").fetchall())
    tasks = {
        h: (Task(i, s, c, tuple(orjson.loads(tools)), tid), tools)
        for h, i, s, c, tools, tid in con.execute(
            "SELECT task_hash, instruction, system, context, tools, source_task_id FROM tasks"
        ).fetchall()
    }

    def at_step(rev: int, step: int) -> int:
        return [i for i, t in enumerate(turns[rev]) if t["role"] == "assistant"][step]

    def row(kind: str, e: dict) -> dict:
        ids = {"row_id": e["row_id"], "task_key": e["task_key"]}
        if kind == "sft" and "salvaged_steps" in e:
            at = at_step(e["rev_id"], e["salvaged_steps"])
            return rows.salvage_row(*tasks[task_of[e["traj_id"]]], turns[e["rev_id"]], at, **ids)
        if kind == "sft":
            return rows.sft_row(*tasks[task_of[e["traj_id"]]], turns[e["rev_id"]], **ids)
        if kind == "kto":
            task = tasks[task_of[e["traj_id"]]]
            return rows.kto_row(*task, turns[e["rev_id"]], at_step(e["rev_id"], e["step"]), e["tags"], **ids)
        chosen, rejected = e["chosen"]["rev_id"], e["rejected"]["rev_id"]
        at = at_step(chosen, e["step"])
        return rows.dpo_row(
            *tasks[task_of[e["chosen"]["traj_id"]]], turns[chosen], turns[rejected], at, **ids
        )

    files = {}
    for kind, entries in manifest["rows"].items():
        for e in entries:
            name = f"{kind}/{e['split']}.jsonl"
            files[name] = files.get(name, b"") + rows.line(row(kind, e))
    return files


def assert_export_equals_twin(db, out, **options) -> dict:
    with Store(db, read_only=True) as store:
        export_store(store, out, **options)
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        twin = twin_files(store, manifest)
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.glob("*/*.jsonl")}
    assert sorted(written) == sorted(twin)
    for name, data in written.items():
        assert data == twin[name], f"{name} differs from its twin"
    return manifest["counts"]


def decide_by_labels(db) -> None:
    with Store(db) as store:
        bulk(store, "accept", "ann", source_label="success")
        bulk(store, "fail", "ann", source_label="failure", tags=["other"])
        bulk(store, "accept", "bob")  # the unlabelled ones, so every file has rows


def test_the_hand_built_store_exports_its_twin(tmp_path, db):
    build_store(tmp_path, db)
    counts = assert_export_equals_twin(db, tmp_path / "x")
    assert all(sum(counts[k].values()) for k in ("sft", "dpo", "kto"))


def test_the_sample_set_exports_its_twin(tmp_path, db):
    with Store(db) as store:
        import_file(store, str(SAMPLE))
    decide_by_labels(db)
    counts = assert_export_equals_twin(db, tmp_path / "x")
    assert all(sum(counts[k].values()) for k in ("sft", "dpo", "kto"))
    salvaged = assert_export_equals_twin(db, tmp_path / "salvage", salvage=True)
    assert sum(salvaged["sft"].values()) > sum(counts["sft"].values())  # prefix-salvage rows, flags and all


def test_the_real_files_export_their_twin(tmp_path, db, realdata):
    with Store(db) as store:
        for path in sorted(realdata.iterdir()):
            if path.suffix in (".json", ".jsonl", ".traj"):
                import_file(store, str(path))  # a file no family reads is reported, not raised
    decide_by_labels(db)
    counts = assert_export_equals_twin(db, tmp_path / "x")
    assert sum(counts["sft"].values()) > 500
