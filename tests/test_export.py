"""`curator export` and `export_store` (SPEC 6, 8, 9): rows, splits by task, lineage, formats,
filters, rehearsal, and every bad output folder or option."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import orjson
import pytest
from conftest import SAMPLE, cli_json, run_cli, write_jsonl
from test_pairs import build_store

from curator.cli import main
from curator.export import (
    ExportError,
    ExportFilters,
    eval_tasks,
    export_store,
    list_exports,
    preview_counts,
    resolve_export_dir,
)
from curator.filters import FilterError, from_text
from curator.messages import flat_message
from curator.store import Store

DATA_FILES = (
    "sft/train.jsonl",
    "sft/eval.jsonl",
    "dpo/train.jsonl",
    "dpo/eval.jsonl",
    "kto/train.jsonl",
    "kto/eval.jsonl",
)


@pytest.fixture
def hand(tmp_path, db):
    return build_store(tmp_path, db)


def rows(out, kind) -> list[dict]:
    found = []
    for split in ("train", "eval"):
        path = out / kind / f"{split}.jsonl"
        if path.exists():
            found += [{**orjson.loads(line), "_split": split} for line in path.read_bytes().splitlines()]
    return found


def export(db, out, **kw) -> dict:
    with Store(db, read_only=True) as store:
        return export_store(store, out, **kw)


def test_flat_message_gives_one_shape_with_json_string_arguments():
    call = {"id": None, "type": "function", "function": {"name": "f", "arguments": {"a": [1]}}}
    assert flat_message({"role": "assistant", "content": "hi", "tool_calls": [call]}) == {
        "role": "assistant",
        "content": "hi",
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": '{"a": [1]}'}}
        ],
        "tool_call_id": None,
        "name": None,
    }
    raw = {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}
    assert flat_message(raw)["tool_calls"][0]["function"]["arguments"] == "{bad"  # as written
    assert flat_message({"role": "user", "content": None})["content"] == ""


def test_rows_of_the_hand_built_store(hand, db, tmp_path):
    result = export(db, tmp_path / "x")
    total = {k: result[k]["train"] + result[k]["eval"] for k in ("sft", "dpo", "kto")}
    assert total == {"sft": 3, "dpo": 4, "kto": 2}
    assert result["pairs"] == {"edit": 2, "same_task": 1, "compare": 1}
    out = tmp_path / "x"
    for kind in ("sft", "dpo", "kto"):
        for row in rows(out, kind):
            assert isinstance(orjson.loads(row["tools"]), list)
            for field in ("messages", "prompt", "chosen", "rejected", "completion"):
                for m in row.get(field, ()):
                    assert list(m) == ["role", "content", "tool_calls", "tool_call_id", "name"]
                    for c in m["tool_calls"] or ():
                        assert isinstance(c["function"]["arguments"], str)
    for row in rows(out, "dpo") + rows(out, "kto"):
        for field in ("chosen", "rejected", "completion"):
            if field in row:
                assert [m["role"] for m in row[field]] == ["assistant"]
    dpo = {r["row_id"]: r for r in rows(out, "dpo")}
    same = next(r for r in dpo.values() if r["row_id"].startswith("dpo-same_task"))
    assert [m["role"] for m in same["prompt"]] == ["system", "user", "assistant", "tool"]
    assert same["prompt"][3]["content"] == "rain"
    assert (same["chosen"][0]["content"], same["rejected"][0]["content"]) == (
        "Rain in Oslo.",
        "Sunny in Oslo.",
    )
    edits = sorted((r for r in dpo.values() if "-edit-" in r["row_id"]), key=lambda r: len(r["prompt"]))
    assert orjson.loads(edits[0]["chosen"][0]["tool_calls"][0]["function"]["arguments"]) == {"city": "Rome"}
    assert edits[1]["prompt"][-1]["content"] == "sunny"  # the edited tool result
    kto = {r["completion"][0]["content"]: r for r in rows(out, "kto")}
    assert set(kto) == {"Sunny in Oslo.", "Snow in Bern?"}
    assert kto["Sunny in Oslo."]["tags"] == ["wrong_final_answer"]
    assert kto["Sunny in Oslo."]["label"] is False
    sft = rows(out, "sft")
    edited = next(r for r in sft if r["messages"][-1]["content"] == "It is sunny in Rome.")
    assert edited["messages"][2]["content"] == "Look up Rome."  # thoughts are kept


def test_no_task_in_two_splits_and_lineage_for_every_row(hand, db, tmp_path):
    export(db, tmp_path / "x", eval_fraction=0.5, seed=3)
    manifest = orjson.loads((tmp_path / "x" / "manifest.json").read_bytes())
    split_of = {}
    for kind in ("sft", "dpo", "kto"):
        written = rows(tmp_path / "x", kind)
        assert [r["row_id"] for r in written] == [
            e["row_id"] for s in ("train", "eval") for e in manifest["rows"][kind] if e["split"] == s
        ]
        for row in written:
            assert split_of.setdefault(row["task_key"], row["_split"]) == row["_split"]
        for entry in manifest["rows"][kind]:
            assert entry["events"] and entry["reviewers"]
    assert set(split_of.values()) == {"train", "eval"}
    assert manifest["tasks"] == {"train": 2, "eval": 2}
    for name, info in manifest["files"].items():
        assert (tmp_path / "x" / name).stat().st_size == info["bytes"]
    card = (tmp_path / "x" / "README.md").read_text()
    assert "config_name: dpo" in card and "seed 3" in card


def test_same_seed_gives_byte_identical_files(hand, db, tmp_path):
    for fmt, ext in (("jsonl", "jsonl"), ("parquet", "parquet")):
        a, b = tmp_path / "a" / fmt, tmp_path / "b" / fmt
        export(db, a, file_format=fmt, seed=7)
        export(db, b, file_format=fmt, seed=7)
        names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
        assert any(n.endswith(ext) for n in names)
        for name in names:
            if name != "manifest.json":
                assert (a / name).read_bytes() == (b / name).read_bytes(), name
        ma, mb = (orjson.loads((d / "manifest.json").read_bytes()) for d in (a, b))
        ma.pop("created_at"), mb.pop("created_at")
        assert ma == mb


def test_eval_tasks_are_seeded_stable_and_never_all_or_none():
    keys = [f"t{i}" for i in range(50)]
    assert eval_tasks(keys, 0.2, 1) == eval_tasks(reversed(keys), 0.2, 1)
    assert len(eval_tasks(keys, 0.2, 1)) == 10
    assert eval_tasks(keys, 0.2, 1) != eval_tasks(keys, 0.2, 2)
    assert len(eval_tasks(keys[:3], 0.01, 0)) == 1 and len(eval_tasks(keys[:2], 0.9, 0)) == 1
    assert eval_tasks(keys, 0, 0) == set() and eval_tasks(keys[:1], 0.5, 0) == set()


def test_preview_counts_match_the_export(hand, db, tmp_path):
    filters = ExportFilters(reviewer="ann")
    with Store(db, read_only=True) as store:
        preview = preview_counts(store, filters, eval_fraction=0.5, seed=1)
    result = export(db, tmp_path / "x", filters=filters, eval_fraction=0.5, seed=1)
    assert {k: preview[k] for k in ("sft", "dpo", "kto", "pairs", "tasks")} == {
        k: result[k] for k in ("sft", "dpo", "kto", "pairs", "tasks")
    }


@pytest.mark.parametrize(
    "filters,expected",
    [
        (ExportFilters(reviewer="ann"), {"sft": 3, "dpo": 2, "kto": 0}),  # bob's fails and A/B out
        (ExportFilters(reviewer="bob"), {"sft": 0, "dpo": 1, "kto": 2}),  # his A/B pair stays
        (ExportFilters(tags=("ignored_error",)), {"sft": 3, "dpo": 3, "kto": 1}),
        (ExportFilters(source_file="*/hand.jsonl"), {"sft": 3, "dpo": 4, "kto": 2}),
        (ExportFilters(source_file="*/other.jsonl"), None),
        (ExportFilters(source_format="react"), None),
        (ExportFilters(teacher="nobody"), None),
        (ExportFilters(since=datetime.now() + timedelta(days=1)), None),
        (ExportFilters(until=datetime.now() + timedelta(days=1)), {"sft": 3, "dpo": 4, "kto": 2}),
    ],
)
def test_filters(hand, db, tmp_path, filters, expected):
    if expected is None:
        with pytest.raises(ExportError, match="nothing to export: .* matches the filters"):
            export(db, tmp_path / "x", filters=filters)
        assert not (tmp_path / "x").exists()
        return
    result = export(db, tmp_path / "x", filters=filters)
    assert {k: result[k]["train"] + result[k]["eval"] for k in expected} == expected


def test_rehearsal_rows_are_mixed_into_sft_train_at_the_ratio(hand, db, tmp_path):
    chat = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(20)
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", [*chat, {"messages": "nope"}])
    result = export(db, tmp_path / "x", rehearsal=path, rehearsal_ratio=0.5, eval_fraction=0)
    assert result["sft"] == {"train": 6, "eval": 0}  # 3 curated + 3 rehearsal
    assert result["rehearsal"]["used"] == 3 and result["rehearsal"]["bad_count"] == 1
    assert "line 21" in result["rehearsal"]["bad"][0]["where"]
    mixed = [r for r in rows(tmp_path / "x", "sft") if r["task_key"] == "rehearsal"]
    assert len(mixed) == 3 and mixed[0]["tools"] == "[]"
    with pytest.raises(ExportError, match="no chat rows"):
        export(db, tmp_path / "y", rehearsal=write_jsonl(tmp_path / "bad.jsonl", [{"a": 1}]))
    with pytest.raises(ExportError, match="rehearsal file .*missing"):
        export(db, tmp_path / "y", rehearsal=tmp_path / "missing.jsonl")


def test_output_folder_rules(hand, db, tmp_path):
    out = tmp_path / "x"
    export(db, out)
    with pytest.raises(ExportError, match="already exists; pass --overwrite"):
        export(db, out)
    (out / "sft" / "train.jsonl").write_text("stale")
    export(db, out, overwrite=True, seed=5)
    assert (out / "sft" / "train.jsonl").read_text() != "stale"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.")]  # no leftovers
    (tmp_path / "file").write_text("")
    with pytest.raises(ExportError, match="exists and is not a folder"):
        export(db, tmp_path / "file", overwrite=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an earlier export"):
        export(db, tmp_path / "home", overwrite=True)
    export(db, tmp_path / "new" / "deeper")  # missing parents are made
    assert [e["name"] for e in list_exports(tmp_path)] == ["x"]


def test_unwritable_folder_is_refused(hand, db, tmp_path):
    if os.geteuid() == 0:  # root writes anywhere, but not into /proc
        target, message = "/proc/curator-export", "cannot write"
    else:
        (tmp_path / "locked").mkdir(mode=0o500)
        target, message = tmp_path / "locked" / "x", "permission denied"
    with pytest.raises(ExportError, match=message):
        export(db, target)


def test_resolve_export_dir_refuses_escapes(tmp_path):
    root = tmp_path / "exports"
    root.mkdir()
    assert resolve_export_dir(root, "run-1") == root.resolve() / "run-1"
    (root / "link").symlink_to(tmp_path)
    for name in ("../x", "/etc", "a/../../x", "", ".", "link/x"):
        with pytest.raises(ExportError):
            resolve_export_dir(root, name)


def test_bad_options(hand, db, tmp_path):
    for kw, message in (
        ({"file_format": "csv"}, "unknown export format"),
        ({"eval_fraction": 1.0}, "eval fraction"),
        ({"rehearsal_ratio": 1.0}, "rehearsal ratio"),
        ({"filters": ExportFilters(tags=("nope",))}, "unknown failure tag"),
    ):
        with pytest.raises(ExportError, match=message):
            export(db, tmp_path / "x", **kw)


def test_since_and_until_include_the_whole_day_on_the_cli_and_in_the_app(hand, db, tmp_path):
    """One meaning of a bare date: `--since D` from the start of D, `--until D` through the end of D,
    the same through the CLI and through `filters.from_text` (what the app's Export tab calls)."""
    today = datetime.now().date()
    yesterday, tomorrow = (today + timedelta(days=d) for d in (-1, 1))
    with Store(db, read_only=True) as store:
        everything = preview_counts(store, ExportFilters())
    for since, until, kept in (
        (today, today, True),
        (yesterday, today, True),
        (None, yesterday, False),
        (tomorrow, None, False),
    ):
        args = [f"--{k}={v}" for k, v in (("since", since), ("until", until)) if v]
        out = tmp_path / f"{since}-{until}"
        proc = run_cli("export", "--out", str(out), "--json", *args, db=db)
        filters = from_text(since=since and str(since), until=until and str(until))
        if kept:
            assert orjson.loads(proc.stdout)["sft"] == everything["sft"], args
            with Store(db, read_only=True) as store:
                assert preview_counts(store, filters)["sft"] == everything["sft"], args
        else:
            assert proc.returncode == 1 and "nothing to export" in proc.stderr, args
            with Store(db, read_only=True) as store:
                assert preview_counts(store, filters)["sft"] == {"train": 0, "eval": 0}, args
    with pytest.raises(FilterError, match="until: 'soon' is not a date"):
        from_text(until="soon")


def test_cli_export_json_and_exit_codes(hand, db, tmp_path, capsys):
    out = tmp_path / "x"
    result = cli_json(
        "export",
        "--out",
        str(out),
        "--format",
        "parquet",
        "--until",
        datetime.now().date().isoformat(),
        db=db,
    )
    assert set(result) >= {"out", "sft", "dpo", "kto"}
    assert result["sft"]["train"] + result["sft"]["eval"] == 3
    assert (out / "sft" / "train.parquet").exists()
    for args, code, message in (
        ([], 1, "already exists"),
        (["--teacher", "nobody"], 1, "nothing to export"),
        (["--eval-fraction", "2"], 2, "below 1"),
        (["--since", "yesterday"], 2, "not a date"),
        (["--rehearsal-ratio", "0.2"], 2, "needs --rehearsal"),
        (["--db", str(tmp_path / "none.duckdb")], 1, "no such store"),
    ):
        target = out if "already" in message else tmp_path / "y"
        argv = ["export", "--out", str(target), "--db", str(db), *args]
        try:
            assert main(argv) == code, args
        except SystemExit as exc:
            assert exc.code == code, args
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert message in lines[-1] and (code == 2 or len(lines) == 1), args


@pytest.mark.slow
def test_sample_set_end_to_end(tmp_path, db):
    """The issue's acceptance run: import, bulk accept/fail by source label, export."""
    cli_json("import", str(SAMPLE), db=db)
    accepted = cli_json("bulk", "accept", "--source-label", "success", db=db)["decided"]
    failed = cli_json("bulk", "fail", "--source-label", "failure", "--tag", "other", db=db)["decided"]
    stats = cli_json("stats", db=db)
    result = cli_json("export", "--out", str(tmp_path / "x"), db=db)
    assert result["sft"]["train"] + result["sft"]["eval"] == accepted
    assert result["kto"]["train"] + result["kto"]["eval"] == failed
    assert result["dpo"]["train"] + result["dpo"]["eval"] == stats["pairs"]["same_task"] > 0
    split_of = {}
    for kind in ("sft", "dpo", "kto"):
        for row in rows(tmp_path / "x", kind):
            assert split_of.setdefault(row["task_key"], row["_split"]) == row["_split"]
    assert len(split_of) == stats["tasks"]
