"""Generation jobs started from the app (the Generate tab): `curator generate` in a separate process, its episodes
brought into the store while it runs.

The app is the store's only writer, so the job cannot write the store. It writes a file of episodes in its own
folder instead, and not a staging DuckDB file: DuckDB lets one process open a file for writing and no other open
it at all meanwhile, while the app must read the episodes as they come (so they reach the Review queue as they
are generated, not when the job ends). The job appends each finished episode as one JSON line, the
`curator.generate.episode_record` that `curator generate` itself stores, written in one call and flushed: a
complete line is a whole episode, a torn last line (the job killed mid-write) is never read, and cut off if the
job is run again. `bring_in` stores the lines not yet in the store with `curator.generate.store_episodes`, the
same call `curator generate` makes: trajectories with their checker label and reward, teacher, sampling,
environment and task id, and `generated_episodes` rows, whose key (run, task id, sample) makes a second bring-in
of the same lines add nothing. A job starts with the pairs the store already finished for its run, so starting
the same settings again continues the run, as a re-run of `curator generate` does.

    FOLDER/
      job.json        the GenerateConfig and the (task id, sample) pairs the store had finished at the start
      episodes.jsonl  one finished episode per line (`episode_record`)
      progress.json   the job's counts so far and how many episodes it runs, replaced after each episode
      summary.json    the job's summary (as `curator generate --json`; what it stored is counted when brought in,
                      in `generation_jobs`); written only when it finished
      log.txt         its stdout and stderr

Cancel ends the job's process group; the episodes it finished are brought in first. Jobs outlive an app restart
(the pid and folder are in `generation_jobs`), and `Importer` keeps bringing episodes in while any job runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import orjson

from curator import follow, jobs
from curator.generate import (
    EMBEDDED,
    GenerateConfig,
    GenerateError,
    Summary,
    check_teacher,
    episodes_done,
    load_tasks,
    produce,
    store_episodes,
)
from curator.store import Store
from trainer.runfolder import LOG  # the log's name, as `curator.follow` reads it

JOB = "job.json"
EPISODES = "episodes.jsonl"
PROGRESS = "progress.json"
SUMMARY = "summary.json"
TEACHERS = ("endpoint", "local model")
IMPORT_S = 3.0  # how often running jobs' episodes are brought in


class GenJobError(GenerateError):
    """A generation job cannot be started or changed as asked; one line."""


# ---------------------------------------------------------------------------------------------------------------
# The form.


def form_config(
    values: dict[str, object], teacher: str, endpoint: str, model: str, local: str
) -> GenerateConfig:
    """The Generate tab's form as a config. `values` are GenerateConfig fields by name (an empty box: the default);
    the teacher is the endpoint URL and its model name, or the local model (empty: the embedded default),
    whichever `teacher` (one of TEACHERS) says. A bad value is one line, the same the CLI gives."""
    fields = {
        name: _value(name, raw) for name, raw in values.items() if str(raw if raw is not None else "").strip()
    }
    endpoint, model, local = (str(v or "").strip() for v in (endpoint, model, local))
    if teacher == "endpoint":
        if not endpoint.startswith(("http://", "https://")):
            raise GenJobError(f"endpoint URL must start with http:// or https://, got {endpoint!r}")
        fields |= {"teacher": endpoint, "teacher_model": model or None}
    else:
        fields |= {"teacher": local or EMBEDDED, "teacher_model": None}
    config = GenerateConfig(**fields)
    config.check()
    return config


def _value(name: str, raw: object):
    kind = GenerateConfig.__dataclass_fields__[name].type
    text = str(raw).strip()
    try:
        if kind.startswith("int"):
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        number = "a whole number" if kind.startswith("int") else "a number"
        raise GenJobError(f"{name.replace('_', ' ')}: {text!r} is not {number}") from None
    return text


# ---------------------------------------------------------------------------------------------------------------
# The app's side: start, bring in, follow, cancel.


def start_job(store: Store, config: GenerateConfig, *, user: str, root: str | os.PathLike) -> int:
    """Check the config and its tasks (one line if bad), then start the job process; returns the job id.
    One job at a time per store."""
    refresh(store)
    running = store.scalar("SELECT job_id FROM generation_jobs WHERE status = 'running' LIMIT 1")
    if running is not None:
        raise GenJobError(f"generation job {running} is still running: wait for it or cancel it first")
    if config.task_file:  # the job runs elsewhere: the run key and the file must not depend on its directory
        config = dataclasses.replace(config, task_file=str(Path(config.task_file).resolve()))
    env, _ = load_tasks(config)
    run_key = config.run_key(env)
    job_id = store.scalar("SELECT coalesce(max(job_id), 0) + 1 FROM generation_jobs")
    folder = Path(root).resolve() / f"gen-{job_id:04d}"
    if folder.exists():
        raise GenJobError(f"{folder} already exists; remove it or choose another runs folder")
    folder.mkdir(parents=True)
    done = sorted(episodes_done(store, run_key))
    (folder / JOB).write_text(json.dumps({"config": dataclasses.asdict(config), "done": done}, indent=1))
    pid = jobs.spawn("curator.genjobs", folder, folder / LOG)
    store.con.execute(
        """INSERT INTO generation_jobs VALUES (?, now(), ?, ?, ?, ?, ?, 'running', NULL, NULL, NULL, 0, 0, 0)""",
        [job_id, user, json.dumps(dataclasses.asdict(config)), run_key, str(folder), pid],
    )
    return job_id


def bring_in(store: Store, job_id: int) -> int:
    """Store the episodes the job has finished since the last call (one transaction); returns how many."""
    run_key, folder, offset = store.one(
        "SELECT run_key, folder, brought_in FROM generation_jobs WHERE job_id = ?", [job_id]
    )
    lines, end = _complete_lines(Path(folder) / EPISODES, offset)
    if end == offset:
        return 0
    done = episodes_done(store, run_key)
    records = {}
    for line in lines:
        record = orjson.loads(line)
        key = (record["task_id"], record["sample"])
        if key not in done:
            records[key] = record

    def advance(stored: int = 0, duplicates: int = 0) -> None:
        store.con.execute(
            """UPDATE generation_jobs SET brought_in = ?, stored = stored + ?, duplicates = duplicates + ?
               WHERE job_id = ?""",
            [end, stored, duplicates, job_id],
        )

    if records:
        store_episodes(store, list(records.values()), Summary(), advance)
    else:
        advance()
    return len(records)


def refresh(store: Store) -> int:
    """Bring in what every running job finished, and record the outcome of those whose process ended
    (summary.json: succeeded; none: failed, with the last log lines); returns how many still run."""
    running = 0
    for job_id, folder, pid in store.con.execute(
        "SELECT job_id, folder, pid FROM generation_jobs WHERE status = 'running'"
    ).fetchall():
        alive = jobs.alive(pid, folder)  # asked first: once it has ended, the bring-in below gets every line
        bring_in(store, job_id)
        if alive:
            running += 1
            continue
        summary = jobs.read_json(Path(folder) / SUMMARY)
        status, error = ("succeeded", None) if summary else ("failed", follow.log(folder, 15)[0])
        store.con.execute(
            """UPDATE generation_jobs SET status = ?, finished_at = now(), summary = ?, error = ?
               WHERE job_id = ? AND status = 'running'""",
            [status, json.dumps(summary) if summary else None, error, job_id],
        )
    return running


def cancel_job(store: Store, job_id: int, grace_s: float = 5.0) -> None:
    """End the job's process group, bring in the episodes it finished, and mark it cancelled."""
    row = store.one("SELECT status, pid, folder FROM generation_jobs WHERE job_id = ?", [job_id])
    if row is None:
        raise GenJobError(f"generation job {job_id}: no such job")
    status, pid, folder = row
    if status != "running":
        raise GenJobError(f"generation job {job_id} is {status}, not running")
    jobs.end(pid, folder, grace_s)
    bring_in(store, job_id)
    store.con.execute(
        """UPDATE generation_jobs SET status = 'cancelled', finished_at = now(), error = 'cancelled'
           WHERE job_id = ?""",
        [job_id],
    )


def list_jobs(store: Store) -> list[dict]:
    """Every job, newest first, after bringing in and recording what the running ones did."""
    refresh(store)
    return store.records("SELECT * FROM generation_jobs ORDER BY job_id DESC")


def read_progress(folder: str | os.PathLike) -> dict | None:
    """The job's counts so far (see `progress_of`), None before it wrote any."""
    return jobs.read_json(Path(folder) / PROGRESS)


class Importer(AbstractContextManager):
    """Brings the running jobs' episodes into the store every `interval_s` while any job runs, so they reach the
    Review queue as they are generated whichever tab is open. Sleeps while none runs: `wake()` after starting
    one. Entering starts it (a first pass finds jobs an earlier app left running); leaving stops it."""

    def __init__(self, open_store: Callable[[], AbstractContextManager[Store]], interval_s: float = IMPORT_S):
        self.open_store, self.interval_s = open_store, interval_s
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="generation-import", daemon=True)

    def __enter__(self) -> Importer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                with self.open_store() as store:
                    running = refresh(store)
            except Exception as exc:  # a thread has no caller to tell: say it, try again later
                print(f"generation jobs: bringing episodes in failed: {exc}".splitlines()[0], file=sys.stderr)
                running = 1
            if running:
                self._stop.wait(self.interval_s)
            else:
                self._wake.wait()


# ---------------------------------------------------------------------------------------------------------------
# The job's side: `python -m curator.genjobs FOLDER`.


def progress_of(summary: Summary, total: int) -> dict:
    """What progress.json holds: episodes to run, finished (by label, and those `--keep success` drops), failed
    (the teacher's errors), generated tokens."""
    return {
        "total": total,
        "episodes": summary.episodes,
        "success": summary.success,
        "failure": summary.failure,
        "discarded": summary.discarded,
        "errors": len(summary.errors),
        "tokens": summary.tokens,
    }


def run_job(folder: Path) -> dict:
    """Run the job in `folder` (or the rest of it, after a kill) and write its summary."""
    job = json.loads((folder / JOB).read_text())
    config = GenerateConfig(**job["config"])
    env, tasks = load_tasks(config)
    check_teacher(config)
    path = folder / EPISODES
    done = {(task_id, sample) for task_id, sample in job["done"]} | _finished(path)
    with open(path, "ab") as out:

        def write(record: dict) -> None:
            out.write(orjson.dumps(record) + b"\n")
            out.flush()

        result = produce(
            config,
            env,
            tasks,
            done,
            write,
            Summary(),
            on_step=lambda summary, total: _write_json(folder / PROGRESS, progress_of(summary, total)),
        )
    _write_json(folder / SUMMARY, result)
    return result


def _finished(path: Path) -> set[tuple[str, int]]:
    """The pairs a file of episodes holds; a torn last line (a killed job) is cut off first."""
    if not path.exists():
        return set()
    lines, end = _complete_lines(path, 0)
    if end != path.stat().st_size:
        os.truncate(path, end)
    return {(r["task_id"], r["sample"]) for r in map(orjson.loads, lines)}


def _complete_lines(path: Path, offset: int) -> tuple[list[bytes], int]:
    """The complete lines after byte `offset`, and the offset after the last of them."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    return complete.splitlines(), offset + len(complete)


def _write_json(path: Path, value: dict) -> None:
    """Replaced whole, so a reader never sees half of it."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value, indent=1))
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / JOB).is_file():
        print(f"usage: python -m curator.genjobs FOLDER (a job folder holding {JOB})", file=sys.stderr)
        return 2
    from curator.errors import CuratorError
    from trainer.errors import TrainerError

    try:
        run_job(Path(args[0]))
    except (CuratorError, TrainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
