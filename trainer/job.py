"""The process the app starts for one training run: `python -m trainer.job FOLDER`.

Reads FOLDER/job.json (a `curator.runs.RunConfig`), trains on FOLDER/export into FOLDER/train,
writes FOLDER/result.json, then runs the agent benchmark, base vs tuned, on the held-out tasks
into FOLDER/evaluation.json. It never opens the store: the app records the outcome when this
process has ended (an exit without result.json is a failed run; the log says why).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainer.errors import TrainerError
from trainer.evaluate import compare, select_tasks
from trainer.policy import ModelPolicy
from trainer.presets import get_preset, with_overrides
from trainer.run import train


def run_job(folder: Path) -> None:
    job = json.loads((folder / "job.json").read_text())
    config = with_overrides(
        get_preset(job["preset"]),
        stages=tuple(job["stages"]),
        max_steps=job.get("max_steps"),
        eval_each_epoch=job.get("eval_each_epoch"),
    )
    result = train(folder / "export", folder / "train", job.get("base"), config)
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    if job.get("eval_tasks") == 0:
        return
    tasks = select_tasks(job.get("eval_tasks"))
    adapter = result["adapter"]
    evaluation = compare(
        ModelPolicy(job.get("base"), tokenizer_dir=adapter), ModelPolicy(job.get("base"), adapter), tasks
    )
    (folder / "evaluation.json").write_text(json.dumps(evaluation, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / "job.json").is_file():
        print("usage: python -m trainer.job FOLDER (a run folder holding job.json)", file=sys.stderr)
        return 2
    try:
        run_job(Path(args[0]))
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
