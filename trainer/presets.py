"""Training configuration, defined once: `TrainConfig` is a documented dataclass (TRL style, the help text of each
field in its metadata). The CLI flags (`trainer.cli.add_config_args`), the Train tab's form and `job.json` are all
derived from its fields; presets are instances of it, and overrides replace fields with `dataclasses.replace`.

"Unset" has one encoding, None: the preset's value, the epochs, the hardware or "off" decide.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, replace

from curator.envs.loader import SPLITS
from trainer.errors import TrainerError

STAGES = ("sft", "dpo", "kto")


def stage_list(text: str) -> tuple[str, ...]:
    """`sft,dpo` -> ("sft", "dpo"); raises ValueError naming the known stages."""
    stages = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in stages if s not in STAGES]
    if not stages or unknown:
        raise ValueError(f"stages must be a comma list of {', '.join(STAGES)}; got '{text}'")
    return stages


def module_list(text: str) -> tuple[str, ...] | str:
    """`all-linear` (PEFT's shorthand) or a comma list of module names."""
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise ValueError("target modules: give all-linear or a comma list of module names")
    return names[0] if names == ("all-linear",) else names


def loss_list(text: str) -> tuple[str, ...]:
    """`sigmoid,sft` -> ("sigmoid", "sft"): TRL DPO loss types to mix."""
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise ValueError("dpo loss: give a comma list of TRL loss types, e.g. sigmoid,sft")
    return names


def weight_list(text: str) -> tuple[float, ...]:
    """`1,0.2` -> (1.0, 0.2): one weight per mixed DPO loss."""
    try:
        return tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"dpo loss weights: expected a comma list of numbers, got '{text}'") from None


def option(default, help: str, **extra):
    """A field with its help text (and, optionally, `parse` for the CLI and form, `flags` aliases, `cli=False`)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and hardware options of one training run (all stages)."""

    stages: tuple[str, ...] = option(
        ("sft", "dpo"),
        "stages, in order; each preference stage starts from the previous adapter",
        parse=stage_list,
    )
    max_length: int = option(2048, "tokens; longer rows are reported and left out, never cut")
    compact_tools: bool = option(
        False, "generic template only: one line per tool instead of full JSON schemas"
    )
    batch_size: int = option(8, "rows per device per step (DPO: pairs)")
    grad_accum: int = option(1, "gradient accumulation steps")
    micro_batch_size: int | None = option(
        1,
        "rows per forward pass, a divisor of batch size (unset: the whole batch); the step is the same, its loss "
        "normalized over all its rows' tokens, and 1 means no padding and one row's activations alive at a time",
    )
    epochs: float = option(1.0, "epochs per stage")
    max_steps: int | None = option(None, "steps per stage; overrides the epochs (unset: the epochs decide)")
    pref_max_steps: int | None = option(
        None, "DPO/KTO only, when max steps is unset: caps them (on CPU a pair costs ~4 SFT rows)"
    )
    sft_lr: float = option(2e-4, "SFT learning rate", flags=("--lr",))
    dpo_lr: float = option(2e-5, "DPO learning rate")
    kto_lr: float = option(2e-5, "KTO learning rate")
    beta: float = option(0.1, "DPO/KTO: strength of the pull toward the reference policy")
    dpo_loss: tuple[str, ...] | None = option(
        None, "TRL loss types mixed in DPO, e.g. sigmoid,sft as RPO does (unset: sigmoid)", parse=loss_list
    )
    dpo_loss_weights: tuple[float, ...] | None = option(
        None, "one weight per DPO loss type (unset: all 1)", parse=weight_list
    )
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = option(0.05, "LoRA dropout")
    target_modules: tuple[str, ...] | str = option(
        "all-linear", "modules LoRA adapts: all-linear or a comma list of names", parse=module_list
    )
    lora_layers: int | None = option(
        None, "LoRA on the top N decoder layers only (unset: all); backward stops below them"
    )
    qlora: bool | None = option(
        None, "4-bit nf4 base with double quantization (unset: on when a GPU is present)"
    )
    bf16: bool | None = option(
        None, "bf16 compute, autocast on CPU (unset: on where the hardware supports it)"
    )
    gradient_checkpointing: bool = option(False, "saves memory, costs ~30% more compute: for big models only")
    optim: str = option("adamw_torch", "optimizer (a transformers `optim` name)")
    group_by_length: bool = option(True, "batches of similar lengths: little padding, same loss")
    warmup_ratio: float = option(0.0, "share of the steps spent warming the learning rate up")
    logging_steps: int = option(1, "steps between two metrics records")
    save_steps: int = option(50, "steps between two checkpoints")
    seed: int = option(0, "random seed (data order, LoRA init)")
    eval_rows: int | None = option(
        None, "eval-split rows scored after each stage (unset: all); the eval pass costs time"
    )
    eval_each_epoch: int | None = option(
        None, "held-out tasks to run the agent benchmark on after every epoch (unset: off)"
    )
    eval_env: str = option(
        "sample",
        "environment of the agent benchmark (every epoch, and base vs tuned after training): "
        "sample, sql, path/to/file.py:Class or package.module:Class",
    )
    eval_task_file: str | None = option(
        None, "tasks of eval_env (JSON Lines or a datasets folder; the built-ins carry their own)"
    )
    eval_split: str = option(
        "eval",
        "split of eval_env's tasks the agent benchmark runs: eval (held-out, the final test) or train (to "
        "choose a recipe, e.g. by ablation, without touching the held-out tasks)",
    )
    extra: dict = field(
        default_factory=dict,
        metadata={"help": "further TrainingArguments (e.g. from a preset)", "cli": False},
    )

    def __post_init__(self):
        for name in ("max_steps", "pref_max_steps", "lora_layers", "eval_each_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TrainerError(f"{name} must be at least 1, or unset; got {value}")
        if self.eval_split not in SPLITS:
            raise TrainerError(f"eval_split must be one of {', '.join(SPLITS)}; got {self.eval_split!r}")


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
    # The evaluation demo on 2 cores: two SFT epochs over the demo's curated set (~200 rows) at 1e-3, then a short DPO
    # (4 steps of 8 pairs). Chosen on the sample world's *train* tasks (benchmarks/recipe.py, README "Training"):
    # one epoch at 4e-4 solved 1 of 30, at 1e-3 4 of 30, two epochs at 1e-3 8 of 30. LoRA on the top 15 of SmolLM2's
    # 30 layers: the backward pass stops there, 1.5x the tokens/s of all layers (244 vs 161) and 2.6 vs 3.9 GB at
    # peak (all layers solved 6 of 30 in one epoch). Steps of 8 rows (4 x 2 accumulation) run one row at a time
    # (micro_batch_size 1): a padded batch of 4 long rows peaked at 7.7 GB.
    "cpu-demo": TrainConfig(
        compact_tools=True,
        eval_rows=8,
        max_length=2048,
        batch_size=4,
        grad_accum=2,
        epochs=2,
        pref_max_steps=4,
        lora_layers=15,
        save_steps=10,
        sft_lr=1e-3,
        dpo_lr=3e-5,
    ),
    # One GPU, 8B class: 4-bit base, bf16 compute, gradient checkpointing, paged 8-bit optimizer.
    "gpu-qlora": TrainConfig(
        max_length=4096,
        batch_size=2,
        micro_batch_size=None,
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
        micro_batch_size=None,
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


def micro_batch(config: TrainConfig) -> int:
    """Rows per forward pass: `micro_batch_size`, which must divide `batch_size` (else the step would change)."""
    micro = config.micro_batch_size or config.batch_size
    if micro < 1 or config.batch_size % micro:
        raise TrainerError(f"micro_batch_size {micro} must divide batch_size {config.batch_size}")
    return micro


def stage_steps(config: TrainConfig, stage: str) -> int:
    """The step limit of one stage in TRL's encoding (-1: its epochs decide)."""
    steps = config.max_steps if config.max_steps is not None or stage == "sft" else config.pref_max_steps
    return -1 if steps is None else steps


def get_preset(name: str | None) -> TrainConfig:
    if name is None:
        return TrainConfig()
    if name not in PRESETS:
        raise TrainerError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name]


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """The config with every override that is not None (None: unset, the config's value stays)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def settable() -> list:
    """The fields a user sets by name (CLI flags, the Train tab's form): all but `cli=False` ones."""
    return [f for f in fields(TrainConfig) if f.metadata.get("cli", True)]


def field_type(name: str) -> type:
    """The scalar type of a field (int for `int | None`); tuple-valued fields have a `parse` instead."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def parse_value(name: str, text: str):
    """A field's value from its text form (a CLI flag's argument, a form box); raises ValueError in one line."""
    meta = TrainConfig.__dataclass_fields__[name].metadata
    if "parse" in meta:
        return meta["parse"](text)
    kind = field_type(name)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "on", "off", "yes", "no", "1", "0"):
            raise ValueError(f"{name}: expected true or false, got '{text}'")
        return lowered in ("true", "on", "yes", "1")
    try:
        return kind(text.strip())
    except ValueError:
        raise ValueError(f"{name}: expected {kind.__name__}, got '{text}'") from None


def to_dict(config: TrainConfig) -> dict:
    """The config as JSON-ready values (job.json, run.json)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def from_dict(values: dict) -> TrainConfig:
    """The inverse of `to_dict`; an unknown key is an error (a file written by another version)."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainerError(f"unknown training settings: {', '.join(unknown)}")
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
