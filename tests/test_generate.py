"""`curator generate`: a teacher behind a real OpenAI-compatible HTTP server runs an environment's tasks; episodes
are stored whole with the environment's labels, re-runs store nothing twice, a dead endpoint changes nothing, and
a killed run resumes. The teacher here is either `transformers serve` on the embedded SmolLM2 (slow tests) or the
scripted teacher of `tests/teacher.py` (the `scripted_teacher` fixture)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import ROOT, free_port, run_cli
from teacher import ENVS, STOCK, STOCK_TASKS

from curator.envs.contract import call_tool, reward_of
from curator.envs.loader import load_environment
from curator.generate import GenerateConfig, generate
from curator.store import Store


def stored(db: Path) -> list[dict]:
    with Store(db, read_only=True) as store:
        rows = store.con.execute(
            """SELECT t.source_label, t.source_reward, t.teacher, t.meta, r.turns, k.instruction, k.system
               FROM trajectories t JOIN revisions r ON r.traj_id = t.traj_id AND r.number = 0
               JOIN tasks k USING (task_hash) ORDER BY t.traj_id"""
        ).fetchall()
    keys = ("label", "reward", "teacher", "meta", "turns", "instruction", "system")
    return [
        dict(zip(keys, row, strict=True)) | {"meta": orjson.loads(row[3]), "turns": orjson.loads(row[4])}
        for row in rows
    ]


def replayed(env, trajectory: dict) -> tuple[list, float]:
    """Re-run a stored trajectory's calls in a fresh instance of its environment: the results and the reward."""
    task = next(t for t in env.tasks if t.id == trajectory["meta"]["task_id"])
    instance, _ = env.start(task)
    results, final = [], None
    for turn in trajectory["turns"]:
        for call in turn.get("tool_calls") or []:
            results.append(call_tool(instance, env.specs, call["name"], call["arguments"]))
        if turn["role"] == "assistant" and not turn.get("tool_calls"):
            final = turn.get("content")
    return results, reward_of(instance, final)


def test_user_environment_by_path_with_an_endpoint_teacher(scripted_teacher, db):
    url, app = scripted_teacher
    args = [
        "generate",
        "--env",
        STOCK,
        "--task-file",
        STOCK_TASKS,
        "--teacher",
        url,
        "--teacher-model",
        "scripted",
    ]
    first = run_cli(*args, "--samples", "2", "--concurrency", "3", "--json", db=db, check=True)
    summary = json.loads(first.stdout)
    assert summary["episodes"] == 6 and summary["errors"] == [] and summary["skipped"] == 0
    assert (summary["success"], summary["failure"]) == (4, 2)  # the gears task orders one too many
    assert (
        summary["stored"] + summary["duplicates"] == 6 and summary["stored"] == 3
    )  # the teacher is deterministic
    env = load_environment(STOCK, STOCK_TASKS)
    trajectories = stored(db)
    assert len(trajectories) == 3
    for t in trajectories:
        results, reward = replayed(env, t)
        tool_turns = [turn["content"] for turn in t["turns"] if turn["role"] == "tool"]
        assert tool_turns == [r if isinstance(r, str) else json.dumps(r) for r in results]
        assert t["reward"] == reward and t["label"] == ("success" if reward >= 1.0 else "failure")
        assert t["teacher"] == "scripted" and t["meta"]["env"] == STOCK
        assert t["meta"]["sampling"]["temperature"] == 0.7 and t["meta"]["sample"] in (0, 1)
        assert "(warehouse W" in t["instruction"]  # reset's text is appended to the user message
    by_task = {t["meta"]["task_id"]: t for t in trajectories}
    assert by_task["gears-9"]["label"] == "failure" and by_task["bolts-60"]["label"] == "success"
    assert len([turn for turn in by_task["bolts-60"]["turns"] if turn["role"] == "tool"]) == 2

    # the same command again: every episode is done already, nothing is asked or stored
    requests = app.state.requests
    again = json.loads(run_cli(*args, "--samples", "2", "--json", db=db, check=True).stdout)
    assert (again["episodes"], again["stored"], again["skipped"]) == (0, 0, 6)
    assert app.state.requests == requests
    # one more sample per task continues the run; --keep success is another run and keeps only successes
    more = json.loads(run_cli(*args, "--samples", "3", "--json", db=db, check=True).stdout)
    assert (more["episodes"], more["skipped"]) == (3, 6)
    kept = json.loads(run_cli(*args, "--keep", "success", "--json", db=db, check=True).stdout)
    assert (kept["success"], kept["failure"], kept["discarded"]) == (2, 1, 1)
    with Store(db, read_only=True) as store:
        assert store.scalar("SELECT count(*) FROM generated_episodes") == 12
        assert store.scalar("SELECT count(*) FROM trajectory_overview WHERE status = 'pending'") == 3


def test_endpoint_failures_are_retried_then_reported_per_episode(scripted_teacher, db, monkeypatch):
    url, _ = scripted_teacher
    monkeypatch.setenv("TEACHER_FAILS_NUTS", "1")
    config = GenerateConfig(
        env=STOCK, task_file=STOCK_TASKS, teacher=url, teacher_model="scripted", retries=1, timeout_s=5
    )
    result = generate(config, db, show_progress=False)
    assert result["episodes"] == 2 and [(e["task_id"], e["sample"]) for e in result["errors"]] == [
        ("nuts-10", 0)
    ]
    assert "503" in result["errors"][0]["reason"] or "overloaded" in result["errors"][0]["reason"]
    monkeypatch.delenv("TEACHER_FAILS_NUTS")
    retry = generate(config, db, show_progress=False)  # the failed episode is left for the next run
    assert (retry["episodes"], retry["skipped"], retry["errors"]) == (1, 2, [])


def test_generate_runs_inside_a_running_event_loop(scripted_teacher, db):
    """A notebook (or a Playwright session) keeps a loop running; the endpoint loop still runs."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    url, _ = scripted_teacher
    config = GenerateConfig(env=STOCK, task_file=STOCK_TASKS, teacher=url, teacher_model="scripted")

    async def from_a_notebook_cell():
        return generate(config, db, show_progress=False)

    with ThreadPoolExecutor(max_workers=1) as pool:  # the cell's loop in a thread of its own: the
        result = pool.submit(asyncio.run, from_a_notebook_cell()).result()  # main one may run already
    assert result["episodes"] == 3 and result["errors"] == []


def test_a_dead_endpoint_is_one_line_and_the_store_is_untouched(tmp_path, db):
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = run_cli(
        "generate", "--env", "sample", "--teacher", url, "--teacher-model", "m", "--json", db=db, timeout=120
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "cannot reach the endpoint" in proc.stderr
    assert not db.exists()
    usage = run_cli("generate", "--env", "sample", "--teacher", url, db=db)
    assert usage.returncode == 1 and "--teacher-model is required" in usage.stderr


BAD_ENVS = {
    "no_reset": (
        "class Env:\n    def get_reward(self) -> float:\n        return 1.0\n",
        "has no reset() method",
    ),
    "no_hints": (
        (
            "class Env:\n    def reset(self, **kw):\n        pass\n    def get_reward(self):\n        return 0.0\n"
            "    def look(self, x):\n        '''Look.\n\n        Args:\n            x: What.\n        '''\n"
        ),
        "tool look: Argument x is missing a type hint",
    ),
    "no_docstring": (
        (
            "class Env:\n    def reset(self, **kw):\n        pass\n    def get_reward(self):\n        return 0.0\n"
            "    def look(self, x: str):\n        return x\n"
        ),
        "tool look:",
    ),
    "broken": ("class Env(:\n", "cannot load: SyntaxError"),
}


@pytest.mark.parametrize("name", BAD_ENVS)
def test_bad_environment_files_are_one_line(tmp_path, name):
    source, expected = BAD_ENVS[name]
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    from curator.envs.contract import EnvError

    with pytest.raises(EnvError) as caught:
        load_environment(f"{path}:Env", STOCK_TASKS)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and expected in message, message


def test_bad_tasks_and_a_reset_that_raises_are_one_line(tmp_path, db):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        '{"id": "a", "prompt": "Need 5 bolts", "item": "bolts", "wanted": 5}\n{"id": "b", "prompt": "Need nuts"}\n'
    )
    proc = run_cli("generate", "--env", STOCK, "--task-file", str(tasks), "--teacher", "default", db=db)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"{tasks} line 2: lacks the field 'item' that reset() needs" in proc.stderr
    for line, reason in (
        ("{oops", "line 1: not valid JSON"),
        ('{"prompt": 3, "item": "x", "wanted": 1}', "field 'prompt' must be text or chat messages"),
        ('{"prompt": "x", "item": "x", "wanted": 1, "split": "test"}', "field 'split' must be train or eval"),
    ):
        tasks.write_text(line + "\n")
        from curator.envs.contract import EnvError

        with pytest.raises(EnvError, match=re.escape(reason)):
            load_environment(STOCK, tasks)
    raising = tmp_path / "raising.py"
    raising.write_text(
        "from stock_env import StockEnv as Base\n\n\nclass StockEnv(Base):\n"
        "    def reset(self, item: str, wanted: int, **kwargs):\n        raise KeyError(item)\n"
    )
    (tmp_path / "stock_env.py").write_text((ENVS / "stock_env.py").read_text())
    tasks.write_text('{"id": "t-1", "prompt": "x", "item": "screws", "wanted": 1}\n')
    proc = run_cli("eval", "--env", f"{raising}:StockEnv", "--task-file", str(tasks), "--json")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "reset() raised for task t-1: KeyError" in proc.stderr and proc.stdout == ""


@pytest.mark.slow
def test_the_same_class_constructs_in_trl_grpo_trainer(tiny_base, tokenizer, tmp_path):
    """One file serves generation here and RL training with TRL: GRPOTrainer accepts it as environment_factory."""
    import copy

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_template

    from curator.envs.contract import trl_reward

    tokenizer = copy.deepcopy(tokenizer)
    # the project's template renders ChatML with Hermes <tool_call> blocks, which TRL parses as it parses Qwen3's
    tokenizer.response_template = qwen3_template

    env = load_environment(STOCK, STOCK_TASKS)
    rows = [{"prompt": list(t.prompt), **{k: t.fields[k] for k in ("item", "wanted")}} for t in env.tasks]
    config = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=16,
        max_steps=1,
        report_to="none",
        use_cpu=True,
    )
    trainer = GRPOTrainer(
        model=str(tiny_base),
        reward_funcs=[trl_reward],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        environment_factory=env.factory,
    )
    assert {t.__name__ for t in trainer.tools} == {"check_stock", "order_item"}


# ---------------------------------------------------------------------------------------------------------------
# A real OpenAI-compatible server: transformers serve on the embedded SmolLM2.


@pytest.fixture(scope="module")
def served(smol_path, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [str(Path(sys.executable).parent / "transformers"), "serve", str(smol_path)]
    with open(log, "w") as out:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 180
        while time.time() < deadline and server.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"transformers serve did not start: {log.read_text()[-2000:]}")
        yield url, str(smol_path)
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_generate_against_transformers_serve_then_sigkill_and_resume(served, db):
    url, model = served
    args = ["generate", "--env", "sample", "--teacher", url, "--teacher-model", model, "--limit", "1"]
    args += ["--max-tokens", "12", "--max-steps", "1", "--concurrency", "1"]
    command = [sys.executable, "-m", "curator", *args, "--samples", "3", "--db", str(db)]
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ})
    seen = ""
    while "1/3" not in seen and proc.poll() is None:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(db, read_only=True) as store:
        done = store.scalar("SELECT count(*) FROM generated_episodes")
        trajectories = store.scalar("SELECT count(*) FROM trajectories")
    assert done >= 1 and trajectories == done  # each episode whole, with its record, or not at all

    resumed = json.loads(run_cli(*args, "--samples", "3", "--json", db=db, check=True).stdout)
    assert resumed["skipped"] == done and resumed["episodes"] == 3 - done and resumed["errors"] == []
    env = load_environment("sample")
    rows = stored(db)
    assert len(rows) + resumed["duplicates"] == 3 - done + done
    for row in rows:
        assert row["teacher"] == model and row["meta"]["task_id"] == "weather-01"
        _, reward = replayed(env, row)
        assert row["label"] == ("success" if reward >= 1.0 else "failure")
        assert row["system"] and row["turns"][0]["role"] == "assistant"


def test_the_readme_environment_runs_as_written(tmp_path):
    """README "Write your own environment": its file and tasks, loaded by path, scored through the contract."""
    from trainer.evaluate import evaluate

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"`stock\.py`.*?```python\n(.*?)```", readme, re.DOTALL).group(1)
    tasks = re.search(r"`stock\.jsonl`:\n\n```json\n(.*?)```", readme, re.DOTALL).group(1)
    assert len(code.splitlines()) <= 35
    (tmp_path / "stock.py").write_text(code)
    (tmp_path / "stock.jsonl").write_text(tasks)
    env = load_environment(f"{tmp_path / 'stock.py'}:StockEnv", tmp_path / "stock.jsonl")
    assert [t["function"]["name"] for t in env.tools] == ["check_stock", "order_item"]

    def agent(messages, tools):
        """Checks the stock, orders the shortfall, answers with the new stock."""
        first = next(m for m in messages if m["role"] == "user")["content"]
        wanted, item = re.search(r"need (\d+) (\w+)", first).groups()
        results = [
            json.loads(m["content"]) if m["content"].startswith("{") else m["content"]
            for m in messages
            if m["role"] == "tool"
        ]

        def call(name, **arguments):
            return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"

        if not results:
            return call("check_stock", item=item)
        if len(results) == 1 and results[0]["in_stock"] < int(wanted):
            return call("order_item", item=item, quantity=int(wanted) - results[0]["in_stock"])
        now = results[-1]["in_stock"] if isinstance(results[-1], dict) else results[-1].split("now ")[1]
        return f"We have {now} {item} now."

    result = evaluate(agent, env.tasks, show_progress=False)
    assert result["task_success"] == 1.0 and result["counts"]["valid"] == 3
    lazy = evaluate(lambda m, t: "We have plenty.", env.tasks, show_progress=False)
    assert lazy["task_success"] == 0.0


@pytest.mark.slow
def test_generate_with_the_embedded_model_as_a_local_teacher(db):
    """The local path: the batched, cached policy samples at the temperature, episodes scored and stored."""
    args = ["generate", "--env", "sql", "--teacher", "default", "--limit", "2", "--samples", "2"]
    result = json.loads(
        run_cli(*args, "--max-tokens", "12", "--max-steps", "1", "--json", db=db, check=True).stdout
    )
    assert result["episodes"] == 4 and result["errors"] == [] and result["tokens"] > 0
    assert result["stored"] + result["duplicates"] == 4 and result["teacher"] == "default"
    env = load_environment("sql")
    for row in stored(db):
        assert row["meta"]["env"] == "sql" and row["meta"]["sampling"]["temperature"] == 0.7
        _, reward = replayed(env, row)
        assert row["label"] == ("success" if reward >= 1.0 else "failure")


def test_the_store_held_by_the_app_is_one_line(scripted_teacher, db, held_store):
    url, _ = scripted_teacher
    args = [
        "generate",
        "--env",
        STOCK,
        "--task-file",
        STOCK_TASKS,
        "--teacher",
        url,
        "--teacher-model",
        "scripted",
    ]
    proc = run_cli(*args, db=db)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "open in another process" in proc.stderr
