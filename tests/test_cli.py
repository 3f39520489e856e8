"""The command line as SPEC 8 describes it, end to end on the real public files."""

from __future__ import annotations

import orjson
from conftest import chat_record, cli_json, run_cli, write_jsonl

REAL_FILES = {  # file: (format, trajectories in it)
    "fireact_hotpotqa_openai.jsonl": ("openai", 500),
    "llamafactory_glaive_toolcall_en.json": ("sharegpt", 300),
    "llamafactory_reason_tool_use.jsonl": ("openai", 50),
    "react_prompts_naive.json": ("react", None),
    "sweagent_test_repo_6e44b9.traj": ("sweagent", 1),
    "taubench_gpt4o_airline.json": ("openai", 200),
    "toolbench_g1_answer_10.json": ("toolbench", 1),
}


def test_import_all_real_files_then_again_imports_nothing_new(db, realdata):
    paths = [str(realdata / name) for name in REAL_FILES]
    first = cli_json("import", *paths, db=db)
    by_name = {f["path"].rsplit("/", 1)[1]: f for f in first["files"]}
    for name, (fmt, count) in REAL_FILES.items():
        f = by_name[name]
        assert f["format"] == fmt, (name, f)
        assert f["quarantined"] == 0, (name, f["errors"][:3])
        if count is not None:
            assert f["imported"] + f["duplicates"] == count, (name, f)
    second = cli_json("import", *paths, db=db)
    assert second["imported"] == 0
    assert second["duplicates"] == first["imported"] + first["duplicates"]
    stats = cli_json("stats", db=db)
    assert stats["trajectories"] == first["imported"]
    assert stats["pending"] == first["imported"]
    assert stats["quarantined"] == 0


def test_bulk_then_stats_agree(db, tmp_path):
    records = [
        chat_record("a", [("t", "get_weather", {"city": "X"}, "1")], "ok", "success"),
        chat_record("a", [("t", "get_weather", {"city": "Y"}, "1")], "bad", "failure"),
        chat_record("b", [("t", "get_weather", {"city": "Z"}, "1")], "ok", "success"),
    ]
    cli_json("import", str(write_jsonl(tmp_path / "s.jsonl", records)), db=db)
    assert cli_json("bulk", "accept", "--source-label", "success", db=db) == {"decided": 2}
    assert cli_json("bulk", "fail", "--source-label", "failure", "--tag", "other", db=db) == {"decided": 1}
    stats = cli_json("stats", db=db)
    assert (stats["accepted"], stats["failed"], stats["pending"], stats["tasks"]) == (2, 1, 0, 2)
    assert stats["pairs"]["same_task"] == 1


def test_human_summary_and_json_are_the_same_facts(db, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [chat_record("a", [], "hi")])
    proc = run_cli("import", str(path), db=db, check=True)
    assert "1 imported, 0 duplicates, 0 quarantined" in proc.stdout
    proc = run_cli("stats", "--json", db=db, check=True)
    assert orjson.loads(proc.stdout)["trajectories"] == 1
    assert proc.stdout.count("\n") == 1


def test_stats_on_a_missing_store_is_a_one_line_error(tmp_path):
    proc = run_cli("stats", db=tmp_path / "none.duckdb")
    assert proc.returncode == 1 and proc.stderr.startswith("error:") and "no such store" in proc.stderr


def test_demo_store_is_curated_except_the_last_tasks(tmp_path):
    """`serve --demo` records the sample labels for most tasks (the Train tab has a set) and leaves the last
    tasks' trajectories pending for a person; `bulk --task` is the filter it uses."""
    from curator.cli.serve import DEMO_PENDING_TASKS, DEMO_REVIEWER, SAMPLE, seed_demo_decisions
    from curator.ingest import import_file
    from curator.store import Store

    with Store(tmp_path / "demo.duckdb") as store:
        import_file(store, str(SAMPLE))
        tasks = store.column("SELECT DISTINCT task_key FROM trajectories ORDER BY task_key")
        decided = seed_demo_decisions(store)
        rows = store.con.execute("""
            SELECT t.task_key, t.source_label, s.status, s.reviewer, e.tags,
                   json_extract_string(t.meta, '$.failure.tags[*]')
            FROM trajectories t JOIN state s USING (traj_id) LEFT JOIN events e USING (event_id)""").fetchall()
    pending_tasks = set(tasks[-DEMO_PENDING_TASKS:])
    assert decided == sum(task not in pending_tasks for task, *_ in rows) > 0
    for task, label, status, reviewer, tags, planted in rows:
        if task in pending_tasks:
            assert status == "pending"
        else:
            assert (status, reviewer) == ({"success": "accepted", "failure": "failed"}[label], DEMO_REVIEWER)
            assert tags == (planted if label == "failure" else None)  # the planted failure tags
