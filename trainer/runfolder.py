"""The run folder: the contract between `curator.runs` (the app starts a run) and `trainer.job` (the process that
runs it). Both sides spell its file names only through this module.

    FOLDER/
      job.json          what to run: a serialised TrainConfig plus run metadata (`Job`)
      export/           the datasets, exported by the app before the job starts
      log.txt           the job's stdout and stderr
      train/            the trainer's OUT (`trainer.run.train`):
        run.json          what ran: data, base, config
        metrics.jsonl     one object per logging step, all stages (the app follows it live)
        <stage>/          checkpoint-N/, adapter/ (PEFT adapter, tokenizer, chat template), summary.json
      result.json       the training result; written only when training succeeded
      evaluation.json   base vs tuned on the held-out tasks, transcripts included

An ablation run (`Job.ablate`: variants such as sft, sft+dpo) holds no train/ of its own; `trainer.ablate` trains
each variant as a run folder inside it (`sft/`, `sft-dpo/`, ...: export, log, train, result), then writes:
      progress.json     {"done", "total", "now", "folder"}: steps done of all, what runs now, the variant training
      ablation.json     the table (`trainer.ablate.ablate`): base and every variant on the same tasks; the result

The job never opens the store; the app records the outcome when the job process has ended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trainer.errors import TrainerError
from trainer.presets import TrainConfig, from_dict, get_preset, to_dict, with_overrides

JOB = "job.json"
EXPORT = "export"
LOG = "log.txt"
TRAIN = "train"
RESULT = "result.json"
EVALUATION = "evaluation.json"
PROGRESS = "progress.json"
ABLATION = "ablation.json"
# inside TRAIN (the trainer's OUT)
RUN = "run.json"
METRICS = "metrics.jsonl"
ADAPTER = "adapter"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class Job:
    """What the Train tab (or a script) asks for: the training config and what surrounds it."""

    config: TrainConfig
    base: str | None = None  # Hugging Face id or folder; None: the embedded SmolLM2-135M-Instruct
    preset: str | None = None  # the preset `config` started from, shown with the run
    eval_tasks: int | None = (
        None  # held-out tasks evaluated base vs tuned after training (None: all, 0: none)
    )
    ablate: tuple[str, ...] | None = None  # variants (e.g. sft, sft+dpo): an ablation instead of one training

    @property
    def variants(self) -> str | None:
        """The variants as `trainer.ablate.parse_variants` (and `--ablate`) reads them."""
        return ",".join(self.ablate) if self.ablate else None

    def to_dict(self) -> dict:
        return {
            "base": self.base,
            "preset": self.preset,
            "eval_tasks": self.eval_tasks,
            "ablate": list(self.ablate) if self.ablate else None,
            "config": to_dict(self.config),
        }

    @classmethod
    def from_dict(cls, values: dict) -> Job:
        if "config" not in values:  # a run recorded before job.json held a whole TrainConfig
            config = with_overrides(
                get_preset(values.get("preset")),
                stages=tuple(values.get("stages") or ()) or None,
                max_steps=values.get("max_steps") or None,
                eval_each_epoch=values.get("eval_each_epoch") or None,
            )
            return cls(config, values.get("base"), values.get("preset"), values.get("eval_tasks"))
        return cls(
            from_dict(values["config"]),
            values.get("base"),
            values.get("preset"),
            values.get("eval_tasks"),
            tuple(values["ablate"]) if values.get("ablate") else None,
        )

    def write(self, folder: Path) -> None:
        (Path(folder) / JOB).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def read(cls, folder: Path) -> Job:
        path = Path(folder) / JOB
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise TrainerError(f"{path}: not a job file ({exc})") from exc
