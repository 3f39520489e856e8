"""The process the app starts for one training run: `python -m trainer.job FOLDER`.

Reads the `Job` in FOLDER (layout: `trainer.runfolder`), trains on its export, writes the result, then runs the
agent benchmark, base vs tuned, on the held-out tasks; a job naming variants (`Job.ablate`) is an ablation instead
(`trainer.ablate.ablate`: each variant trained in a folder of its own inside FOLDER, then the base and every
variant benchmarked on the same tasks, ablation.json). It never opens the store: the app records the outcome when
this process has ended (an exit without a result is a failed run; the log says why).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainer import runfolder
from trainer.ablate import ablate, progress_writer
from trainer.errors import TrainerError
from trainer.evaluate import benchmark_tasks, compare
from trainer.policy import ModelPolicy
from trainer.run import train


def peak_rss_mb() -> int:
    """This process's own peak resident memory. Not `ru_maxrss`: a child's counts the parent's size at the fork
    (a job started by a 9 GB driver reads 9 GB); VmHWM starts at exec. Falls back to `ru_maxrss` off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) // 1024
    except (OSError, IndexError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run_job(folder: Path) -> None:
    job = runfolder.Job.read(folder)
    if job.ablate:
        ablate(
            folder / runfolder.EXPORT,
            folder,
            job.base,
            job.config,
            job.variants,
            job.eval_tasks,
            progress_writer(folder / runfolder.PROGRESS),
        )
        return
    # the benchmark's environment is loaded first: a bad one fails the run before training, in one line
    tasks = None if job.eval_tasks == 0 else benchmark_tasks(job.eval_tasks, job.config)
    result = train(folder / runfolder.EXPORT, folder / runfolder.TRAIN, job.base, job.config)
    # the training's own peak, before the benchmark loads two more models
    result["peak_rss_mb"] = peak_rss_mb()
    (folder / runfolder.RESULT).write_text(json.dumps(result, indent=2))
    if tasks is None:
        return
    adapter = result["adapter"]
    evaluation = compare(ModelPolicy(job.base, tokenizer_dir=adapter), ModelPolicy(job.base, adapter), tasks)
    (folder / runfolder.EVALUATION).write_text(json.dumps(evaluation, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / runfolder.JOB).is_file():
        print(f"usage: python -m trainer.job FOLDER (a run folder holding {runfolder.JOB})", file=sys.stderr)
        return 2
    try:
        run_job(Path(args[0]))
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
