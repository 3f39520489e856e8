"""Generation jobs the app's way (`curator.genjobs`): the teacher runs in a separate process writing its own file of
episodes; bringing them in stores exactly what `curator generate` stores, once however often it runs, also while
the job runs; cancel keeps the finished episodes and a new job with the same settings continues the run. The
teacher is the scripted one of `tests/teacher.py` behind a real HTTP server; the jobs are real processes."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from teacher import STOCK, STOCK_TASKS

from curator import genjobs, jobs
from curator.errors import CuratorError
from curator.generate import EMBEDDED, GenerateConfig, GenerateError, generate
from curator.genjobs import GenJobError, bring_in, cancel_job, form_config, list_jobs, start_job
from curator.store import Store


def config_for(url: str, **changes) -> GenerateConfig:
    return GenerateConfig(
        **{"env": STOCK, "task_file": STOCK_TASKS, "teacher": url, "teacher_model": "scripted", "samples": 2}
        | changes
    )


def wait_for(condition, what: str, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def finished(store: Store, job_id: int) -> dict:
    return wait_for(
        lambda: next(
            (j for j in list_jobs(store) if j["job_id"] == job_id and j["status"] != "running"), None
        ),
        f"job {job_id} finished",
    )


def contents(store: Store) -> tuple[list, list]:
    """What generation left in a store: the trajectories (hash, label, reward, teacher, meta but the sample number:
    of two alike samples, the first to finish is stored) and the episode rows."""
    trajectories = [
        (*row[:-1], {k: v for k, v in orjson.loads(row[-1]).items() if k != "sample"})
        for row in store.con.execute(
            """SELECT traj_hash, source_label, source_reward, teacher, source_format, meta
               FROM trajectories ORDER BY traj_hash"""
        ).fetchall()
    ]
    rows = store.con.execute(
        """SELECT run_key, task_id, sample, env, teacher, label, reward, kept, traj_hash
           FROM generated_episodes ORDER BY task_id, sample"""
    ).fetchall()
    return trajectories, rows


def test_a_job_stores_what_curator_generate_stores_and_only_once(scripted_teacher, tmp_path):
    url, _ = scripted_teacher
    config = config_for(url)
    with Store(tmp_path / "app.duckdb") as store:
        job_id = start_job(store, config, user="ann", root=tmp_path / "runs")
        job = finished(store, job_id)
        assert job["status"] == "succeeded", job["error"]
        assert (job["stored"], job["duplicates"]) == (3, 3)  # the teacher is deterministic: 2 samples alike
        folder = Path(job["folder"])
        assert genjobs.read_progress(folder) == {
            "total": 6,
            "episodes": 6,
            "success": 4,
            "failure": 2,
            "discarded": 0,
            "errors": 0,
            "tokens": 80,  # 16 requests of 5 tokens
        }
        summary = orjson.loads(job["summary"])
        assert (summary["episodes"], summary["success"], summary["skipped"]) == (6, 4, 0)
        assert len((folder / genjobs.EPISODES).read_bytes().splitlines()) == 6
        by_job = contents(store)

        # brought in again, or a torn line after the last: nothing added
        (folder / genjobs.EPISODES).open("ab").write(b'{"run": "x", "task_id": "bol')
        assert bring_in(store, job_id) == 0 and contents(store) == by_job
        # the same settings again: the store has them all, the new job runs nothing
        again = finished(store, start_job(store, config, user="ann", root=tmp_path / "runs"))
        assert orjson.loads(again["summary"])["skipped"] == 6 and again["stored"] == 0
        assert contents(store) == by_job
    # the torn line is cut off when the job's folder is run again, and nothing runs twice
    assert genjobs.run_job(folder)["episodes"] == 0
    assert (folder / genjobs.EPISODES).read_bytes().endswith(b"}\n")

    generate(config, tmp_path / "cli.duckdb", show_progress=False)
    with Store(tmp_path / "cli.duckdb") as store:
        assert contents(store) == by_job  # labels, rewards, teacher, sampling, task ids: the same rows
    trajectories, rows = by_job
    assert {t[1] for t in trajectories} == {"success", "failure"} and {t[4] for t in trajectories} == {
        "generate"
    }
    assert all(t[5]["sampling"]["temperature"] == 0.7 and t[5]["env"] == STOCK for t in trajectories)
    assert sorted(r[1] for r in rows) == sorted(["bolts-60", "nuts-10", "gears-9"] * 2)


@contextmanager
def locked(store: Store):
    """The app's way to the store: one connection behind a lock (`Workbench.db`)."""
    lock = threading.RLock()

    @contextmanager
    def open_store():
        with lock:
            yield store

    yield open_store


def test_episodes_come_in_while_the_job_runs_and_cancel_keeps_them(scripted_teacher, tmp_path, monkeypatch):
    url, _ = scripted_teacher
    monkeypatch.setenv(
        "TEACHER_DELAY_S", "0.2"
    )  # about half a second an episode: still running when cancelled
    config = config_for(url, samples=30, concurrency=1)
    root = tmp_path / "runs"
    with Store(tmp_path / "app.duckdb") as store, locked(store) as open_store:
        with genjobs.Importer(open_store, interval_s=0.3) as importer:
            with open_store():
                job_id = start_job(store, config, user="ann", root=root)
            importer.wake()

            def brought_in():
                with open_store():
                    return store.scalar("SELECT count(*) FROM generated_episodes")

            wait_for(brought_in, "episodes brought in by the importer while the job runs")
            with open_store():
                job = next(j for j in list_jobs(store) if j["job_id"] == job_id)
                assert job["status"] == "running" and jobs.alive(job["pid"], job["folder"])
                with pytest.raises(GenJobError, match="still running"):
                    start_job(store, config, user="bob", root=root)
                cancel_job(store, job_id)
                job = next(j for j in list_jobs(store) if j["job_id"] == job_id)
                assert job["status"] == "cancelled" and not jobs.alive(job["pid"], job["folder"])
                lines = (Path(job["folder"]) / genjobs.EPISODES).read_bytes().count(b"\n")
                kept = store.scalar("SELECT count(*) FROM generated_episodes")
                assert 0 < kept == lines < 90  # every episode the job finished, none lost
                assert job["stored"] + job["duplicates"] == lines

        monkeypatch.delenv("TEACHER_DELAY_S")
        rest = finished(store, start_job(store, config, user="ann", root=root))  # continues the run
        assert rest["status"] == "succeeded", rest["error"]
        assert orjson.loads(rest["summary"])["skipped"] == kept
        assert store.scalar("SELECT count(*) FROM generated_episodes") == 90


def test_a_dead_teacher_fails_the_job_in_one_line(tmp_path):
    from conftest import free_port

    config = config_for(f"http://127.0.0.1:{free_port()}/v1")
    with Store(tmp_path / "app.duckdb") as store:
        job = finished(store, start_job(store, config, user="ann", root=tmp_path / "runs"))
        assert job["status"] == "failed" and "cannot reach the endpoint" in job["error"]
        assert store.scalar("SELECT count(*) FROM trajectories") == 0
        with pytest.raises(GenJobError, match="is failed, not running"):
            cancel_job(store, job["job_id"])


def test_the_form_is_read_as_the_cli_reads_its_flags(tmp_path):
    values = {
        "env": "sql",
        "task_file": "",
        "split": "eval",
        "limit": 3.0,
        "samples": 2,
        "temperature": "0.5",
    }
    config = form_config(values, "endpoint", " http://h:8000/v1 ", "qwen", "ignored")
    assert config == GenerateConfig(
        env="sql",
        split="eval",
        limit=3,
        samples=2,
        temperature=0.5,
        teacher="http://h:8000/v1",
        teacher_model="qwen",
    )
    local = form_config({"keep": "success"}, "local model", "http://h/v1", "", "")
    assert (local.teacher, local.teacher_model, local.keep) == (EMBEDDED, None, "success")
    assert replace(local, keep="all") == GenerateConfig()
    for values, teacher, problem in (
        ({}, "endpoint", "endpoint URL must start with http"),
        ({"samples": 0}, "local model", "--samples must be at least 1"),
        ({"samples": 1.5}, "local model", "samples: '1.5' is not a whole number"),
        ({"temperature": "hot"}, "local model", "temperature: 'hot' is not a number"),
    ):
        with pytest.raises(GenerateError, match=problem):
            form_config(values, teacher, "", "", "")
    with pytest.raises(GenerateError, match="--teacher-model is required"):
        form_config({}, "endpoint", "http://h/v1", "", "")
    with Store(tmp_path / "app.duckdb") as store:  # a bad environment is one line, and nothing starts
        with pytest.raises(CuratorError, match="no.py: no such file"):
            start_job(
                store, GenerateConfig(env=f"{tmp_path / 'no.py'}:Env"), user="a", root=tmp_path / "runs"
            )
        assert not (tmp_path / "runs").exists() and list_jobs(store) == []
