"""Training configuration: one documented dataclass; presets are instances of it, and CLI overrides replace
fields with `dataclasses.replace`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from trainer.errors import TrainerError


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and hardware options of one training run (all stages)."""

    stages: tuple[str, ...] = (
        "sft",
        "dpo",
    )  # run in order; each preference stage starts from the previous adapter
    max_length: int = 2048  # tokens; longer rows are reported and left out, never cut
    compact_tools: bool = False  # generic template only: one line per tool instead of full JSON schemas
    batch_size: int = 8  # rows per device per step (DPO: pairs)
    grad_accum: int = 1
    epochs: float = 1.0
    max_steps: int = -1  # per stage; > 0 overrides epochs
    pref_max_steps: int = (
        -1
    )  # DPO/KTO only, when max_steps is not set: > 0 caps them (on CPU a pair costs ~4 SFT rows)
    sft_lr: float = 2e-4
    dpo_lr: float = 2e-5
    kto_lr: float = 2e-5
    beta: float = 0.1  # DPO/KTO: strength of the pull toward the reference policy
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] | str = "all-linear"
    lora_layers: int | None = (
        None  # LoRA on the top N decoder layers only (None: all); backward stops below them
    )
    qlora: bool | None = None  # 4-bit nf4 base with double quantization; None: on when a GPU is present
    bf16: bool | None = None  # bf16 compute (autocast on CPU); None: on where the hardware supports it
    gradient_checkpointing: bool = False  # saves memory, costs ~30% more compute: for big models only
    optim: str = "adamw_torch"
    group_by_length: bool = True  # batches of similar lengths: little padding, same loss
    warmup_ratio: float = 0.0
    logging_steps: int = 1
    save_steps: int = 50
    seed: int = 0
    eval_rows: int | None = (
        None  # eval-split rows scored after each stage (None: all); the eval pass costs time
    )
    eval_each_epoch: int = 0  # held-out tasks to run the agent benchmark on after every epoch (0: off)
    extra: dict = field(default_factory=dict)  # further TrainingArguments (e.g. from a preset for big models)


PRESETS: dict[str, TrainConfig] = {
    # A few minutes on 2 CPU cores: proves the whole path (SFT then DPO) on the embedded model.
    "cpu-smoke": TrainConfig(
        compact_tools=True,
        eval_rows=8,
        max_length=1536,
        batch_size=4,
        max_steps=8,
        save_steps=4,
        sft_lr=5e-4,
        dpo_lr=5e-5,
    ),
    # The evaluation demo, in 25 minutes on 2 cores with the benchmark: one SFT epoch over the demo's curated set
    # (~180 rows), then a short DPO (4 steps of 8 pairs). LoRA on the top 15 of SmolLM2's 30 layers: the backward
    # pass stops there, 1.46x the tokens/s of all layers (189 vs 129 measured). Batches of 4 (x2 accumulation):
    # without gradient checkpointing a batch of 8 long rows peaks near 22 GB.
    "cpu-demo": TrainConfig(
        compact_tools=True,
        eval_rows=8,
        max_length=2048,
        batch_size=4,
        grad_accum=2,
        epochs=1,
        pref_max_steps=4,
        lora_layers=15,
        save_steps=10,
        sft_lr=4e-4,
        dpo_lr=3e-5,
    ),
    # One GPU, 8B class: 4-bit base, bf16 compute, gradient checkpointing, paged 8-bit optimizer.
    "gpu-qlora": TrainConfig(
        max_length=4096,
        batch_size=2,
        grad_accum=8,
        epochs=2,
        qlora=True,
        bf16=True,
        gradient_checkpointing=True,
        optim="paged_adamw_8bit",
        sft_lr=2e-4,
        dpo_lr=5e-6,
        warmup_ratio=0.03,
        logging_steps=5,
        save_steps=100,
    ),
    # Several GPUs under `accelerate launch --config_file trainer/assets/accelerate/{deepspeed_zero3,fsdp}.yaml`:
    # bf16 LoRA on a sharded full-precision base (QLoRA also shards with bnb_4bit_quant_storage=bf16).
    "gpu-multi": TrainConfig(
        max_length=4096,
        batch_size=2,
        grad_accum=4,
        epochs=2,
        qlora=False,
        bf16=True,
        gradient_checkpointing=True,
        sft_lr=2e-4,
        dpo_lr=5e-6,
        warmup_ratio=0.03,
        logging_steps=5,
        save_steps=100,
    ),
}


def stage_steps(config: TrainConfig, stage: str) -> int:
    """The step limit of one stage (-1: its epochs decide)."""
    if config.max_steps > 0 or stage == "sft":
        return config.max_steps
    return config.pref_max_steps


def get_preset(name: str | None) -> TrainConfig:
    if name is None:
        return TrainConfig()
    if name not in PRESETS:
        raise TrainerError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name]


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """The config with every override that is not None."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
