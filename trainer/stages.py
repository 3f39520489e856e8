"""The training stages, each a TRL trainer configured from a TrainConfig: SFT (SFTTrainer on pre-tokenized rows
whose labels hold the assistant tokens only), then DPO or KTO (DPOTrainer / KTOTrainer) starting from the previous
stage's adapter with that adapter's frozen copy as the reference policy."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset, load_from_disk
from peft import LoraConfig, PeftModel
from transformers import TrainerCallback
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer, SFTConfig, SFTTrainer

from trainer.base import causal_kernel_for_right_padding, cpu_4bit_guard, load_model
from trainer.errors import TrainerError
from trainer.lm_head import fit_lm_head
from trainer.presets import TrainConfig, micro_batch, stage_steps
from trainer.runfolder import ADAPTER, SUMMARY


@dataclass
class Hardware:
    """Resolved from the config's None defaults and the machine."""

    qlora: bool
    bf16: bool


def resolve_hardware(config: TrainConfig) -> Hardware:
    gpu = torch.cuda.is_available()
    qlora = gpu if config.qlora is None else config.qlora
    bf16 = (gpu and torch.cuda.is_bf16_supported()) if config.bf16 is None else config.bf16
    return Hardware(qlora=qlora, bf16=bf16)


class MetricsLog(TrainerCallback):
    """Appends one JSON object per logging step to OUT/metrics.jsonl (the app tails it for live curves) and keeps
    the stage's first and last loss."""

    KEYS = (
        "loss",
        "learning_rate",
        "grad_norm",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "kl",
    )

    def __init__(self, path: Path, stage: str):
        self.path, self.stage = path, stage
        self.losses: list[float] = []
        self.tokens = 0
        self.clock = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        now, tokens = time.perf_counter(), int(logs.get("num_tokens", self.tokens))
        record = {"stage": self.stage, "step": state.global_step, "time": time.time()}
        record.update({k: logs[k] for k in self.KEYS if k in logs})
        record["tokens_per_s"] = round((tokens - self.tokens) / max(now - self.clock, 1e-9), 1)
        self.tokens, self.clock = tokens, now
        self.losses.append(float(logs["loss"]))
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


class EpochBenchmark(TrainerCallback):
    """After every epoch, runs the agent benchmark on the held-out `tasks` (of `TrainConfig.eval_env`) with the model
    being trained (the seed article's advice: evaluate after every epoch) and appends the metrics
    to the same metrics log, so the app plots task success per epoch beside the loss."""

    def __init__(self, path: Path, stage: str, tokenizer, tasks: list):
        self.path, self.stage, self.tokenizer, self.tasks = path, stage, tokenizer, tasks

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        from trainer.evaluate import evaluate
        from trainer.policy import ModelPolicy

        policy = ModelPolicy(model=model, tokenizer=self.tokenizer)
        result = evaluate(policy, self.tasks, desc=f"{self.stage} epoch {state.epoch:.0f} benchmark")
        record = {
            "stage": self.stage,
            "step": state.global_step,
            "epoch": state.epoch,
            "time": time.time(),
            "benchmark_tasks": len(self.tasks),
            "benchmark_env": self.tasks[0].env.name if self.tasks else None,
        }
        record.update(
            {
                k: result[k]
                for k in ("task_success", "valid_tool_call_rate", "unknown_tool_rate", "schema_valid_rate")
            }
        )
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def common_args(config: TrainConfig, hw: Hardware, stage: str, out: Path) -> dict:
    """TrainingArguments shared by all stages."""
    # KTO estimates its KL term from the other completions of the same forward batch: it keeps whole batches
    micro = config.batch_size if stage == "kto" else micro_batch(config)
    return dict(
        output_dir=str(out),
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro,
        gradient_accumulation_steps=config.batch_size * config.grad_accum // micro,
        num_train_epochs=config.epochs,
        max_steps=stage_steps(config, stage),
        learning_rate={"sft": config.sft_lr, "dpo": config.dpo_lr, "kto": config.kto_lr}[stage],
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of all steps
        lr_scheduler_type="cosine" if config.warmup_ratio else "linear",
        bf16=hw.bf16,
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        optim=config.optim,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        report_to="none",
        seed=config.seed,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        **config.extra,
    )


def lora_config(config: TrainConfig, model) -> LoraConfig:
    """The LoRA of `config` for `model`: on its top `lora_layers` decoder layers only when set."""
    modules = config.target_modules if isinstance(config.target_modules, str) else list(config.target_modules)
    layers = None
    if config.lora_layers:
        total = model.config.num_hidden_layers
        layers = list(range(max(0, total - config.lora_layers), total))
        if modules == "all-linear":  # PEFT takes a layer list only with module names: those of the layers
            modules = sorted(
                {
                    name.rsplit(".", 1)[-1]
                    for name, module in model.named_modules()
                    if isinstance(module, torch.nn.Linear) and ".layers." in name
                }
            )
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=modules,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


def sft_trainer(
    base: Path,
    tokenizer,
    train: list[dict],
    evaluation: list[dict],
    config: TrainConfig,
    out: Path,
    callbacks=(),
) -> SFTTrainer:
    """SFT on rows already tokenized with their assistant-only labels (checked by the pre-flight), so TRL
    neither re-renders nor truncates them; batches are grouped by length to cut padding."""
    hw = resolve_hardware(config)
    fit_lm_head()
    args = SFTConfig(
        **common_args(config, hw, "sft", out),
        max_length=None,
        train_sampling_strategy="group_by_length"
        if config.group_by_length and micro_batch(config) > 1
        else "random",
    )
    model = load_model(base, qlora=hw.qlora, bf16=hw.bf16)
    causal_kernel_for_right_padding(model)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(evaluation) if evaluation else None,
        processing_class=tokenizer,
        peft_config=lora_config(config, model),
        callbacks=list(callbacks),
    )


def preference_trainer(
    stage: str,
    base: Path,
    start_adapter: Path | None,
    tokenizer,
    train: list[dict],
    evaluation: list[dict],
    config: TrainConfig,
    out: Path,
    callbacks=(),
):
    """DPO or KTO. From an adapter, the policy trains that adapter and TRL freezes a copy of it as the reference
    (so the reference is the SFT policy, not the pre-SFT base): one base model in memory, two small adapters. Without
    one, a fresh LoRA against the base (the adapter disabled is the reference). The reference's log-probabilities
    are computed once per row before the first step and cached beside the rows in OUT/<stage>/rows (see
    `rows_in_run_folder`), so a step runs the policy only and a resumed run reads them back."""
    hw = resolve_hardware(config)
    fit_lm_head()
    model = load_model(base, qlora=hw.qlora, bf16=hw.bf16)
    causal_kernel_for_right_padding(model)
    if hw.qlora:
        cpu_4bit_guard(model)  # before TRL's reference pass, the first eval-mode forward
    peft_config = None
    if start_adapter is not None:
        model = PeftModel.from_pretrained(model, start_adapter, is_trainable=True)
    else:
        peft_config = lora_config(config, model)
    common = common_args(config, hw, stage, out)
    precompute = {
        "precompute_ref_log_probs": True,
        "precompute_ref_batch_size": common["per_device_train_batch_size"],
    }
    args_class, cls = (DPOConfig, DPOTrainer) if stage == "dpo" else (KTOConfig, KTOTrainer)
    args = args_class(**common, **precompute, **preference_args(config, stage), max_length=None)
    return cls(
        model=model,
        args=args,
        train_dataset=rows_in_run_folder(rows_the_steps_use(train, config, stage), out / "rows" / "train"),
        eval_dataset=rows_in_run_folder(evaluation, out / "rows" / "eval") if evaluation else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )


def preference_args(config: TrainConfig, stage: str) -> dict:
    """The loss of a preference stage: beta, and for DPO the optional mix of losses (e.g. sigmoid + SFT, as RPO)."""
    if stage != "dpo" or not config.dpo_loss:
        return {"beta": config.beta}
    if config.dpo_loss_weights and len(config.dpo_loss_weights) != len(config.dpo_loss):
        raise TrainerError(
            f"dpo_loss_weights {list(config.dpo_loss_weights)} needs one weight per dpo_loss {list(config.dpo_loss)}"
        )
    return {
        "beta": config.beta,
        "loss_type": list(config.dpo_loss),
        "loss_weights": list(config.dpo_loss_weights) or None,
    }


def rows_the_steps_use(rows: list[dict], config: TrainConfig, stage: str) -> list[dict]:
    """When a step limit caps the stage below one epoch, a seeded sample of exactly the rows its steps take: the
    reference pass before training then scores those, not the whole split (cpu-demo: 32 of 270 pairs)."""
    steps = stage_steps(config, stage)
    needed = steps * config.batch_size * config.grad_accum
    if steps < 1 or needed >= len(rows):
        return rows
    return random.Random(config.seed).sample(rows, needed)


def rows_in_run_folder(rows: list[dict], folder: Path) -> Dataset:
    """The rows as a dataset stored in `folder`: `datasets` writes the caches of every later step (TRL's
    tokenization, the reference log-probabilities) next to a dataset's own files, so they land in the run folder
    instead of a temporary directory, and a resumed run finds them. An existing folder is read back as it is."""
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process and not (folder / "dataset_info.json").is_file():
        Dataset.from_list(rows).save_to_disk(str(folder))
    state.wait_for_everyone()
    return load_from_disk(str(folder))


def last_complete_checkpoint(out: Path) -> str | None:
    """The newest checkpoint a killed run finished writing: the Trainer writes `trainer_state.json` last, so a
    checkpoint without it was cut off mid-save and would fail to resume."""
    if not out.is_dir():
        return None
    complete = [p for p in out.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda p: int(p.name.split("-")[1]))) if complete else None


def run_stage(trainer, out: Path, metrics: MetricsLog, resume: bool) -> dict:
    """Train (from the last checkpoint in `out` when resuming), save the adapter, and summarize."""
    checkpoint = last_complete_checkpoint(out) if resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    summary = {
        "steps": trainer.state.global_step,
        "loss_first": metrics.losses[0] if metrics.losses else None,
        "loss_last": metrics.losses[-1] if metrics.losses else None,
        "tokens_per_s": round(metrics.tokens / max(result.metrics.get("train_runtime", 0), 1e-9), 1),
        "resumed_from": Path(checkpoint).name if checkpoint else None,
        "processes": trainer.accelerator.num_processes,
    }
    if trainer.eval_dataset is not None:
        summary["eval_loss"] = trainer.evaluate().get("eval_loss")
    if trainer.is_world_process_zero():  # under `accelerate launch`, one adapter from the main process
        model = trainer.accelerator.unwrap_model(trainer.model)
        model.save_pretrained(out / ADAPTER, selected_adapters=["default"])  # not TRL's frozen "ref" copy
        trainer.processing_class.save_pretrained(out / ADAPTER)  # with the chat template used in training
        (out / SUMMARY).write_text(json.dumps(summary, indent=2))
    trainer.accelerator.wait_for_everyone()
    return summary
