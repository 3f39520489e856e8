"""GPU training benchmark, ready for when a GPU is lent: a randomly initialised model with a real 7-8B configuration
(the shapes are written below: nothing is downloaded) trained with the `gpu-qlora` preset, QLoRA SFT steps then DPO
steps, reporting peak GPU memory, tokens/s and model FLOPs utilization against the GPU's bf16 matmul peak measured
in the same run.

    python benchmarks/gpu.py [--shape qwen2.5-7b|llama-3.1-8b|tiny] [--steps 3] [--max-length 2048] [--json]

`--shape tiny` runs anywhere (the tests run it on CPU, where the figures are peak RSS and the fp32 matmul peak, and
the paged 8-bit optimizer, which needs CUDA, becomes AdamW). The random weights train like real ones for speed and
memory; their loss means nothing. The tokenizer is the embedded SmolLM2's (its ids fit every shape's vocabulary).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import pairs_of, synthetic_rows  # noqa: E402 (benchmarks/ is not a package)

SHAPES = {  # from the models' published config.json files
    "qwen2.5-7b": {
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
    },
    "llama-3.1-8b": {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
    },
    "tiny": {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 49152,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
    },
}


def build_base(shape: str, folder: Path) -> Path:
    """The shape as a randomly initialised bf16 model saved in `folder`, with the embedded SmolLM2 tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from trainer.base import load_tokenizer, resolve_base

    tokenizer = load_tokenizer(resolve_base(None))
    config = AutoConfig.for_model(
        **SHAPES[shape],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    return folder


def matmul_peak() -> float:
    """FLOP/s of a large square matmul: bf16 on a GPU, fp32 on CPU."""
    import torch

    cuda = torch.cuda.is_available()
    n, dtype = (8192, torch.bfloat16) if cuda else (2048, torch.float32)
    a = torch.randn(n, n, dtype=dtype, device="cuda" if cuda else "cpu")
    b = torch.randn_like(a)
    a @ b
    if cuda:
        torch.cuda.synchronize()
    start, reps = time.perf_counter(), 20 if cuda else 5
    for _ in range(reps):
        a @ b
    if cuda:
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def path_params(shape: str) -> int:
    """Weights every token's forward multiplies by (decoder linears and the LM head), counted from the shape: a
    4-bit layer's tensor holds packed values, so its numel is not its parameter count."""
    s = SHAPES[shape]
    h, i, layers = s["hidden_size"], s["intermediate_size"], s["num_hidden_layers"]
    kv = s["num_key_value_heads"] * h // s["num_attention_heads"]
    return layers * (2 * h * h + 2 * h * kv + 3 * h * i) + s["vocab_size"] * h


def peak_memory_mb() -> int:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() // 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def stage_figures(stage: str, trainer, tokens: int, shape: str, peak: float) -> dict:
    """Train, then the stage's figures; FLOPs as `benchmarks/train.py` counts them (frozen weights: forward and
    input gradient; LoRA: all three; activation recomputation not counted as useful work)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = trainer.train()
    seconds = result.metrics["train_runtime"]
    n_lora = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    flops = (4 * path_params(shape) + 6 * n_lora) * tokens
    return {
        "stage": stage,
        "steps": result.global_step,
        "tokens": tokens,
        "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_memory_mb": peak_memory_mb(),
        "achieved_tflops": round(flops / seconds / 1e12, 3),
        "mfu": round(flops / seconds / peak, 4),
    }


def run(shape: str, steps: int, max_length: int, qlora: bool | None) -> dict:
    import torch

    from trainer.base import load_tokenizer
    from trainer.data import Row
    from trainer.preflight import prepare
    from trainer.presets import PRESETS
    from trainer.stages import preference_trainer, sft_trainer
    from trainer.template import use_template

    cuda = torch.cuda.is_available()
    config = replace(
        PRESETS["gpu-qlora"],
        max_length=max_length,
        max_steps=steps,
        save_steps=10**6,
        qlora=qlora if qlora is not None else PRESETS["gpu-qlora"].qlora,
        bf16=cuda,
        optim=PRESETS["gpu-qlora"].optim if cuda else "adamw_torch",
    )
    rows_per_step = config.batch_size * config.grad_accum
    peak = matmul_peak()
    figures = {
        "shape": shape,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "qlora": config.qlora,
    }
    figures["matmul_peak_tflops"] = round(peak / 1e12, 3)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        base = build_base(shape, Path(tmp) / "base")
        tokenizer = load_tokenizer(base)
        use_template(tokenizer, compact_tools=True)
        rows = synthetic_rows(steps * rows_per_step)
        sft = prepare(tokenizer, "sft", [Row(f"r{i}", r) for i, r in enumerate(rows)], max_length, show=0)
        trainer = sft_trainer(base, tokenizer, sft, [], config, Path(tmp) / "sft")
        tokens = sum(len(e["input_ids"]) for e in sft)
        figures["sft"] = stage_figures("sft", trainer, tokens, shape, peak)
        del trainer
        pairs = [Row(f"p{i}", r) for i, r in enumerate(pairs_of(rows))]
        dpo = prepare(tokenizer, "dpo", pairs, max_length, show=0)
        trainer = preference_trainer("dpo", base, None, tokenizer, dpo, [], config, Path(tmp) / "dpo")
        tokens = sum(
            len(tokenizer(text=p["prompt"] + p[c]).input_ids) for p in dpo for c in ("chosen", "rejected")
        )
        figures["dpo"] = stage_figures("dpo", trainer, tokens, shape, peak)
    figures["dpo_vs_sft_time_per_token"] = round(
        figures["sft"]["tokens_per_s"] / figures["dpo"]["tokens_per_s"], 2
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, default="qwen2.5-7b")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per stage (16 rows each)")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument(
        "--qlora", action=argparse.BooleanOptionalAction, default=None, help="default: the preset's"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # the trainers' logs; stdout holds the figures
        figures = run(args.shape, args.steps, args.max_length, args.qlora)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['shape']} on {figures['device']} (QLoRA {figures['qlora']}), matmul peak "
          f"{figures['matmul_peak_tflops']} TFLOP/s")  # fmt: skip
    for stage in ("sft", "dpo"):
        f = figures[stage]
        print(
            f"{stage}: {f['steps']} steps, {f['tokens_per_s']} tokens/s, peak memory {f['peak_memory_mb']} MB, "
            f"{f['achieved_tflops']} TFLOP/s = MFU {f['mfu']:.1%}"
        )
    print(f"DPO vs SFT time per token: {figures['dpo_vs_sft_time_per_token']}x")


if __name__ == "__main__":
    main()
