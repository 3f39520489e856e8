"""One training run: export folder -> pre-flight -> stages in order -> adapters, metrics, checkpoints.

Layout of OUT (`trainer.runfolder`): run.json (what ran), metrics.jsonl (all stages), <stage>/checkpoint-N,
<stage>/adapter (PEFT adapter with the tokenizer and chat template), <stage>/summary.json. With `resume`,
finished stages are kept and an interrupted one continues from its last checkpoint.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

from trainer.base import load_tokenizer, resolve_base
from trainer.data import check_export, load_rows
from trainer.errors import TrainerError
from trainer.evaluate import benchmark_tasks
from trainer.preflight import log, prepare
from trainer.presets import TrainConfig, to_dict
from trainer.runfolder import ADAPTER, METRICS, RUN, SUMMARY
from trainer.stages import EpochBenchmark, MetricsLog, preference_trainer, run_stage, sft_trainer
from trainer.template import use_template


def prepare_stages(data: Path, tokenizer, config: TrainConfig) -> dict[str, tuple[list[dict], list[dict]]]:
    """Train and eval examples for each stage that has rows; all checked before any model is loaded."""
    prepared = {}
    for stage in config.stages:
        rows = load_rows(data, stage, "train")
        if not rows:
            log(f"{stage}: no training rows in {data / stage}; stage skipped")
            continue
        evaluation = load_rows(data, stage, "eval")[: config.eval_rows]
        prepared[stage] = (
            prepare(tokenizer, stage, rows, config.max_length),
            prepare(tokenizer, stage, evaluation, config.max_length, show=0) if evaluation else [],
        )
    if not prepared:
        raise TrainerError(f"data folder {data} has no rows for the stages {','.join(config.stages)}")
    return prepared


def train(data: Path, out: Path, base: str | None, config: TrainConfig, *, resume: bool = False) -> dict:
    """Run the stages of `config` on the export in `data`; returns the `--json` object of `train`."""
    from accelerate import PartialState

    data, out = Path(data), Path(out)
    check_export(data)
    processes = PartialState()  # one process, or each of those `accelerate launch` started
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise TrainerError(
            f"{out} holds an earlier run: pass --resume to continue it, or choose another --out"
        )
    processes.wait_for_everyone()  # every process has checked before the main one writes
    base_path = resolve_base(base)
    tokenizer = load_tokenizer(base_path)
    use_template(tokenizer, config.compact_tools)
    prepared = prepare_stages(data, tokenizer, config)
    benchmark = (  # loaded before any training, so a bad environment fails first
        benchmark_tasks(config.eval_each_epoch, config) if config.eval_each_epoch else None
    )
    if processes.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN).write_text(
            json.dumps(
                {"data": str(data), "base": str(base_path), "config": to_dict(config)}, indent=2, default=str
            )
        )
    processes.wait_for_everyone()
    summaries, adapter = {}, None
    for stage, (train_rows, eval_rows) in prepared.items():
        stage_out = out / stage
        if resume and (stage_out / SUMMARY).is_file() and (stage_out / ADAPTER).is_dir():
            log(f"{stage}: finished in an earlier run; kept")
            summaries[stage], adapter = (
                json.loads((stage_out / SUMMARY).read_text()),
                stage_out / ADAPTER,
            )
            continue
        log(f"{stage}: training on {len(train_rows)} rows" + (f" from {adapter}" if adapter else ""))
        metrics = MetricsLog(out / METRICS, stage)
        callbacks = [metrics]
        if benchmark:
            callbacks.append(EpochBenchmark(out / METRICS, stage, tokenizer, benchmark))
        if stage == "sft":
            trainer = sft_trainer(base_path, tokenizer, train_rows, eval_rows, config, stage_out, callbacks)
        else:
            trainer = preference_trainer(
                stage, base_path, adapter, tokenizer, train_rows, eval_rows, config, stage_out, callbacks
            )
        summaries[stage] = run_stage(trainer, stage_out, metrics, resume)
        adapter = stage_out / ADAPTER
        del trainer
        gc.collect()
    return {"out": str(out), "adapter": str(adapter), "stages": summaries}
