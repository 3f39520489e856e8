"""Training runs started from the app: the export, a separate process, and the outcome in `runs`.

`start_run` exports the current curated set into the run's folder (in the caller's process: it is
the store's only writer), then starts `python -m trainer.job FOLDER` as a job process
(`curator.jobs`: a session of its own, so `cancel_run` can end the whole process tree). The job never touches
the store; `refresh` turns a finished process into an outcome: `result.json` -> succeeded, none ->
failed with the last log lines. Runs survive an app restart: the pid and the folder are stored.

An ablation (`Job.ablate`: variants such as sft, sft+dpo, sft+kto) is started the same way; the job trains each
variant inside the run folder and benchmarks them and the base on the same tasks. Its `ablation.json` is its
result (the `result` column); `ablation_progress` and `read_ablation` read the folder for the Train tab.

The run folder's layout and `job.json` (a `trainer.runfolder.Job`: a TrainConfig plus the base,
the preset's name and the held-out tasks to evaluate on) are the contract in `trainer.runfolder`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from curator import follow, jobs
from curator.store import Store, StoreError
from trainer.runfolder import ABLATION, EVALUATION, EXPORT, LOG, PROGRESS, RESULT, Job


class RunError(StoreError):
    """A run cannot be started or changed as asked; one line."""


def start_run(store: Store, job: Job, *, user: str, root: str | os.PathLike, progress=None) -> int:
    """Export, then start the job process; returns the run id. One run at a time per store."""
    from curator.export import export_store

    refresh(store)
    running = store.scalar("SELECT run_id FROM runs WHERE status = 'running' LIMIT 1")
    if running is not None:
        raise RunError(f"run {running} is still running: wait for it or cancel it first")
    run_id = store.scalar("SELECT nextval('run_ids')")
    folder = Path(root).resolve() / f"run-{run_id:04d}"
    if folder.exists():
        raise RunError(f"{folder} already exists; remove it or choose another runs folder")
    folder.mkdir(parents=True)
    export_store(store, folder / EXPORT, progress=progress)
    job.write(folder)
    pid = jobs.spawn("trainer.job", folder, folder / LOG)
    store.con.execute(
        """INSERT INTO runs VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, 'running', NULL, NULL, NULL,
                                    NULL)""",
        [
            run_id,
            user,
            job.base or "default",
            job.preset,
            job.variants or ",".join(job.config.stages),
            json.dumps(job.to_dict()),
            str(folder),
            pid,
        ],
    )
    return run_id


def refresh(store: Store) -> None:
    """Record the outcome of every run whose process has ended."""
    for run_id, folder, pid in store.con.execute(
        "SELECT run_id, folder, pid FROM runs WHERE status = 'running'"
    ).fetchall():
        if jobs.alive(pid, folder):
            continue
        folder = Path(folder)
        result = jobs.read_json(folder / RESULT) or jobs.read_json(folder / ABLATION)
        evaluation = jobs.read_json(folder / EVALUATION)
        status, error = ("succeeded", None) if result else ("failed", follow.log(folder, 15)[0])
        store.con.execute(
            """UPDATE runs SET status = ?, finished_at = now(), result = ?, evaluation = ?,
                               error = ? WHERE run_id = ? AND status = 'running'""",
            [
                status,
                json.dumps(result) if result else None,
                json.dumps(_metrics_only(evaluation)) if evaluation else None,
                error,
                run_id,
            ],
        )


def cancel_run(store: Store, run_id: int, grace_s: float = 5.0) -> None:
    """End the run's whole process tree (the job and anything it started) and mark it cancelled."""
    row = store.one("SELECT status, pid, folder FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise RunError(f"run {run_id}: no such run")
    status, pid, folder = row
    if status != "running":
        raise RunError(f"run {run_id} is {status}, not running")
    jobs.end(pid, folder, grace_s)
    store.con.execute(
        """UPDATE runs SET status = 'cancelled', finished_at = now(), error = ?
                         WHERE run_id = ?""",
        [f"cancelled; last log lines:\n{follow.log(folder, 5)[0]}", run_id],
    )


def list_runs(store: Store) -> list[dict]:
    refresh(store)
    return store.records("SELECT * FROM runs ORDER BY run_id DESC")


def read_evaluation(folder: str | os.PathLike) -> dict | None:
    """The full evaluation, transcripts included (the store keeps only the metrics)."""
    return jobs.read_json(Path(folder) / EVALUATION)


def read_ablation(folder: str | os.PathLike) -> dict | None:
    """An ablation run's table (`trainer.ablate.ablate`), once it has finished."""
    return jobs.read_json(Path(folder) / ABLATION)


def ablation_progress(folder: str | os.PathLike) -> dict | None:
    """Where a running ablation is: {"done", "total", "now", "folder"} and "bar", the progress bar of the variant
    training now ((desc, n, total) or None); None before the first step."""
    progress = jobs.read_json(Path(folder) / PROGRESS)
    if progress is None:
        return None
    training = progress.get("folder")
    return {**progress, "bar": follow.log(training, 1)[1].bar if training else None}


def _metrics_only(evaluation: dict) -> dict:
    """What the store keeps of an evaluation: each side's metrics, not its transcripts."""
    return {
        key: ({k: v for k, v in value.items() if k != "transcripts"} if isinstance(value, dict) else value)
        for key, value in evaluation.items()
    }
