"""The minimum training window curve from the store (issue 16): the subsets are chosen and exported here, in the
caller's process (the store's one writer: the app, or a script), and the training and benchmarks run in a separate
job process (`python -m trainer.window FOLDER`, which never opens the store).

`prepare_curve` writes a curve folder (`trainer.window` documents its layout): for each fraction of the accepted
set, a subset chosen by `diverse` and one by `random` (`curator select`, same seed), and the whole set. The app
calls `start_curve` (one curve at a time under its runs folder, `window-NNNN`), follows the latest with
`latest_curve` (also one an earlier app process started) and ends it with `cancel_curve`.
"""

from __future__ import annotations

import os
from pathlib import Path

from curator import follow, jobs
from curator.errors import JobError
from curator.similarity import Progress
from curator.stats import store_stats
from curator.store import Store
from curator.subset import select_store
from trainer.presets import TrainConfig
from trainer.runfolder import LOG
from trainer.window import PID, PLOT, PROGRESS, RESULT, STRATEGIES, SUBSETS, Curve, subset_name

PREFIX = "window-"
CANCELLED = "cancelled"  # a marker file: the curve was ended by a person


class WindowError(JobError):
    """A curve that cannot be started or ended as asked; one line."""


def parse_fractions(text: str | float) -> tuple[float, ...]:
    """`0.25,0.5` -> (0.25, 0.5): shares of the accepted set, each above 0 and at most 1, sorted, repeats
    and 1 left out (the whole set is always one point of the curve)."""
    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise WindowError(f"fractions: {text!r} is not a list of numbers such as 0.25,0.5") from None
    bad = [v for v in values if not 0 < v <= 1]
    if bad:
        raise WindowError(f"fractions: {bad[0]} is not a share of the curated set (above 0, at most 1)")
    return tuple(sorted({v for v in values if v < 1}))


def prepare_curve(
    store: Store,
    folder: str | os.PathLike,
    *,
    config: TrainConfig,
    fractions: tuple[float, ...] = (0.25, 0.5),
    eval_tasks: int | None = 20,
    seed: int = 0,
    base: str | None = None,
    preset: str | None = None,
    progress: Progress | None = None,
) -> Curve:
    """Export every subset into `folder` (created; it must not hold anything) and write its `curve.json`."""
    if eval_tasks is not None and eval_tasks < 1:
        raise WindowError(f"eval tasks must be at least 1 (a curve is measured on them), got {eval_tasks}")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise WindowError(f"{folder} is not empty: choose another folder")
    counts = store_stats(store)
    accepted = counts["accepted"] + counts["edited"]
    plan = [(s, f) for f in fractions for s in STRATEGIES] + [("all", 1.0)]
    subsets = []
    for k, (strategy, fraction) in enumerate(plan):
        name = subset_name(strategy, fraction)
        step = _share(progress, k, len(plan), name)
        result = select_store(
            store,
            folder / SUBSETS / name,
            budget=None if strategy == "all" else max(1, round(fraction * accepted)),
            strategy=strategy,
            seed=seed,
            progress=step,
        )
        subsets.append(
            {
                "name": name,
                "strategy": strategy,
                "fraction": fraction,
                "trajectories": result["selection"]["chosen"],
                "sft_train_rows": result["sft"]["train"],
            }
        )
    curve = Curve(config, tuple(subsets), base, preset, eval_tasks, seed)
    curve.write(folder)
    return curve


def _share(progress: Progress | None, k: int, n: int, name: str) -> Progress | None:
    """Subset `k` of `n`'s progress as its share of the whole."""
    if progress is None:
        return None
    return lambda fraction, text: progress((k + fraction) / n, f"subset {name} ({k + 1} of {n}): {text}")


def curve_folders(root: str | os.PathLike) -> list[Path]:
    """The curve folders under `root`, oldest first."""
    return sorted(p for p in Path(root).glob(f"{PREFIX}*") if p.is_dir())


def start_curve(
    store: Store, root: str | os.PathLike, *, progress: Progress | None = None, **settings
) -> Path:
    """Export the subsets into a new `root/window-NNNN` (`prepare_curve`'s settings), then start the job process;
    returns the folder. Refused while another curve under `root` runs."""
    latest = latest_curve(root)
    if latest and latest["status"] == "running":
        raise WindowError(f"the curve in {latest['folder']} is still running: wait for it or cancel it first")
    folders = curve_folders(root)
    number = int(folders[-1].name.removeprefix(PREFIX)) + 1 if folders else 1
    folder = Path(root).resolve() / f"{PREFIX}{number:04d}"
    prepare_curve(store, folder, progress=progress, **settings)
    pid = jobs.spawn("trainer.window", folder, folder / LOG)
    (folder / PID).write_text(str(pid))
    return folder


def curve_state(folder: str | os.PathLike) -> dict:
    """A curve folder as the app shows it: {"folder", "status" (running, succeeded, failed or cancelled),
    "progress" ({"done", "total", "now", "folder"} or None), "training" (the bar of the subset training now:
    (desc, n, total) or None), "log" (the last lines, cleaned), "result" (when succeeded), "plot" (its PNG)}."""
    folder = Path(folder)
    pid = jobs.read_json(folder / PID)
    result = jobs.read_json(folder / RESULT)
    if pid is not None and jobs.alive(pid, folder):
        status = "running"
    elif result is not None:
        status = "succeeded"
    else:
        status = CANCELLED if (folder / CANCELLED).exists() else "failed"
    progress = jobs.read_json(folder / PROGRESS)
    training = None
    if status == "running" and progress and progress.get("folder"):
        training = follow.log(progress["folder"], 1)[1].bar
    return {
        "folder": str(folder),
        "status": status,
        "progress": progress,
        "training": training,
        "log": follow.log(folder, 12)[0],
        "result": result,
        "plot": str(folder / PLOT) if result is not None else None,
    }


def latest_curve(root: str | os.PathLike) -> dict | None:
    """The state of the newest curve under `root`, or None."""
    folders = curve_folders(root)
    return curve_state(folders[-1]) if folders else None


def cancel_curve(root: str | os.PathLike) -> Path:
    """End the running curve's whole process tree (the job and the subset training it started)."""
    latest = latest_curve(root)
    if latest is None or latest["status"] != "running":
        raise WindowError("no curve is running")
    folder = Path(latest["folder"])
    (folder / CANCELLED).touch()
    jobs.end(jobs.read_json(folder / PID), folder)
    return folder
