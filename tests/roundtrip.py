"""Round-trip helpers for the importer tests: import a file into a real store and read back what
the store holds, so a test can check that every source message is there exactly once, in order."""

from __future__ import annotations

import json

import orjson

from curator.ingest import import_file
from curator.store import Store


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif name.endswith(".jsonl"):
        path.write_text("\n".join(json.dumps(r) for r in content) + "\n", encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def stored(db, path: str) -> tuple[dict, list[dict]]:
    """Import `path` into a fresh store; the summary and each stored trajectory (task, turns,
    meta, label) as the store holds them."""
    store = Store(db)
    try:
        summary = import_file(store, path).to_dict()
        rows = store.con.execute(
            """SELECT k.system, k.instruction, r.turns, t.meta, t.source_label, t.source_record
               FROM trajectories t JOIN tasks k USING (task_hash) JOIN revisions r USING (traj_id)
               WHERE r.number = 0 ORDER BY t.traj_id"""
        ).fetchall()
    finally:
        store.close()
    keys = ("system", "instruction", "turns", "meta", "label", "record")
    trajs = [dict(zip(keys, row, strict=True)) for row in rows]
    for t in trajs:
        t["turns"] = orjson.loads(t["turns"])
        t["meta"] = orjson.loads(t["meta"]) if t["meta"] else {}
    return summary, trajs


def text_of(traj: dict) -> str:
    """Everything a trajectory holds, in order: system, task, then each turn's thought, reply,
    calls, result and step metadata."""
    parts = [traj["system"] or "", traj["instruction"]]
    for turn in traj["turns"]:
        parts += [turn.get("thought", ""), turn.get("content", "")]
        parts += [json.dumps(c["arguments"]) for c in turn.get("tool_calls", [])]
        parts.append(json.dumps(turn.get("meta", {})))
    return "\n".join(parts)


def assert_round_trip(traj: dict, markers: list[str]) -> None:
    text = text_of(traj)
    for marker in markers:
        assert text.count(marker) == 1, f"{marker} appears {text.count(marker)} times in:\n{text}"
    positions = [text.index(m) for m in markers]
    assert positions == sorted(positions), "out of order"


def roles(traj: dict) -> str:
    return "".join(t["role"][0] for t in traj["turns"])
