"""The SQL analytics environment: the database, the tasks and their gold answers, the sample trajectories (real
executions, labels that hold on replay), and the seeded generator that writes them."""

from __future__ import annotations

import json

import pytest

from curator import sqlgen
from curator.envs.contract import call_tool, reward_of
from curator.envs.loader import load_environment
from curator.envs.sql import SqlEnv
from curator.paths import SQL_DIR

FILES = ("shop.sql", "tasks.jsonl", "trajectories.jsonl", "README.md")


@pytest.fixture(scope="module")
def env():
    return load_environment("sql")


def test_tools_and_errors_as_results(env):
    assert [t["function"]["name"] for t in env.tools] == ["describe_table", "list_tables", "run_sql"]
    db = SqlEnv()
    assert {t["table"] for t in db.list_tables()["tables"]} == {
        "customers",
        "products",
        "orders",
        "order_items",
    }
    assert "price" in {c["name"] for c in db.describe_table("Products")["columns"]}
    assert db.describe_table("nope") == {"error": "no table nope; call list_tables"}
    assert db.run_sql("SELEC 1")["error"].startswith("Parser Error")
    assert "read-only" in db.run_sql("DROP TABLE orders")["error"]  # no episode changes what another sees
    assert SqlEnv().run_sql("SELECT count(*) FROM orders")["rows"] == [[420]]
    many = db.run_sql("SELECT * FROM order_items")
    assert len(many["rows"]) == 20 and many["truncated"] is True
    assert call_tool(db, env.specs, "run_sql", {"sql": "SELECT 1"})["error"].startswith("missing required")


def test_tasks_have_gold_answers_that_score(env):
    train, held_out = env.select("train"), env.select("eval")
    assert len(train) >= 40 and len(held_out) >= 30
    assert not {t.instruction for t in train} & {t.instruction for t in held_out}
    for task in env.tasks:
        instance, messages = env.start(task)
        assert messages[0]["role"] == "system" and messages[1]["content"] == task.instruction
        gold = instance.run_sql(task.fields["gold_sql"])["rows"][0]
        answer = task.fields["answer"]
        assert [round(v, 2) if isinstance(v, float) else v for v in gold] == answer, task.id
        said = "The answer: " + ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in answer)
        assert reward_of(instance, said) == 1.0, task.id
        assert reward_of(instance, "I don't know.") == 0.0 and reward_of(instance, None) == 0.0


def test_sample_trajectories_replay_to_their_labels(env):
    records = [json.loads(line) for line in (SQL_DIR / "trajectories.jsonl").read_text().splitlines()]
    by_id = {t.id: t for t in env.tasks}
    assert len(records) >= 120 and {r["label"] for r in records} == {"success", "failure"}
    assert {r["task_id"] for r in records} == {t.id for t in env.select("train")}
    for r in records:
        assert r["tools"] == env.tools
        instance, _ = env.start(by_id[r["task_id"]])
        for m in r["messages"]:
            for c in m.get("tool_calls") or []:
                result = call_tool(instance, env.specs, c["function"]["name"], c["function"]["arguments"])
                answer = next(x for x in r["messages"] if x.get("tool_call_id") == c["id"])
                assert json.loads(answer["content"]) == result
        final = r["messages"][-1]["content"]
        assert reward_of(instance, final) == r["reward"] == (1.0 if r["label"] == "success" else 0.0)
        if r["label"] == "failure":
            assert r["failure"]["tags"] and r["failure"]["first_step"] >= 0


def test_generator_is_seeded_and_the_committed_files_are_fresh(tmp_path):
    sqlgen.write(tmp_path / "a", seed=0)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (SQL_DIR / name).read_bytes(), (
            f"{name}: run curator.sqlgen"
        )
    sqlgen.write(tmp_path / "b", seed=1)
    assert (tmp_path / "b" / "shop.sql").read_bytes() != (SQL_DIR / "shop.sql").read_bytes()


def test_the_trajectories_import_as_a_curated_set(db):
    from curator.ingest import import_file
    from curator.store import Store

    with Store(db) as store:
        summary = import_file(store, str(SQL_DIR / "trajectories.jsonl"))
    assert summary.imported == 144 and summary.quarantined == 0
