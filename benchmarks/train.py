"""Training throughput and memory: our SFT stage vs plain TRL `SFTTrainer` on the same model, rows and
hyperparameters, and what a DPO step of ours costs against an SFT step over the same tokens.

Each run trains one epoch over the same rows in its own process (clean peak memory) and reports tokens/s (real,
non-padding tokens over `train_runtime`), peak RSS, mean train loss and eval loss on held-out rows (the loss must
agree: ours runs a step as micro-batches of one row, so padding and the per-step order differ), and model FLOPs
utilization against the matmul peak measured in the same run. Plain TRL runs twice: with its defaults (gradient
checkpointing on) and without gradient checkpointing, so the gain of each choice shows. The DPO run trains our DPO
stage on pairs cut from the same rows (prompt = the conversation before the first assistant turn, chosen = that
turn, rejected = another row's) and reports seconds per real token against our SFT run's; the reference
log-probabilities are computed once before training (their time is reported apart).

    python benchmarks/train.py [--data EXPORT_DIR] [--rows 32] [--precision fp32,bf16]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import shutil
import time
from pathlib import Path
from queue import Empty

# max_length is above every row, so no row is dropped (ours) or cut (TRL): both train the same tokens.
HPARAMS = {
    "lr": 2e-4,
    "batch_size": 8,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "max_length": 2048,
    "seed": 0,
}


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Agent rows of varied length (1-4 tool rounds), in the export's JSONL row form."""
    rng = random.Random(seed)
    tools = [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": f"{name} tool",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
        for name in ("search", "get_weather", "book_table", "convert_currency")
    ]
    rows = []
    for i in range(n):
        messages = [
            {"role": "system", "content": "You are an agent. Use the tools."},
            {"role": "user", "content": f"Task {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(8, 60)))},
        ]
        for turn in range(rng.randint(1, 4)):
            name = rng.choice(tools)["function"]["name"]
            messages.append(
                {
                    "role": "assistant",
                    "content": " ".join(rng.choices(WORDS, k=rng.randint(5, 30))),
                    "tool_calls": [
                        {
                            "id": f"call_{turn}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps({"q": rng.choice(WORDS)})},
                        }
                    ],
                }
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": f"call_{turn}",
                    "name": name,
                    "content": json.dumps({"result": " ".join(rng.choices(WORDS, k=rng.randint(5, 80)))}),
                }
            )
        messages.append({"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(5, 40)))})
        rows.append({"messages": messages, "tools": json.dumps(tools)})
    return rows


WORDS = [
    "the",
    "weather",
    "city",
    "price",
    "table",
    "search",
    "result",
    "answer",
    "found",
    "check",
    "error",
    "retry",
    "value",
    "currency",
    "euro",
    "dollar",
    "tomorrow",
    "today",
    "booking",
    "confirmed",
    "flight",
    "hotel",
    "paris",
    "rome",
    "berlin",
    "step",
    "plan",
    "first",
    "then",
    "finally",
]


def bench_config(stage: str, bf16: bool):
    """Our TrainConfig for one stage with the benchmark's hyperparameters (one epoch, no checkpoints)."""
    from trainer.presets import TrainConfig

    return TrainConfig(
        stages=(stage,),
        epochs=1,
        batch_size=HPARAMS["batch_size"],
        sft_lr=HPARAMS["lr"],
        dpo_lr=HPARAMS["lr"],
        lora_r=HPARAMS["lora_r"],
        lora_alpha=HPARAMS["lora_alpha"],
        lora_dropout=HPARAMS["lora_dropout"],
        max_length=HPARAMS["max_length"],
        qlora=False,
        bf16=bf16,
        seed=HPARAMS["seed"],
        save_steps=10_000,
    )


def matmul_peak(dtype_name: str) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    a @ b
    start, reps = time.perf_counter(), 10
    for _ in range(reps):
        a @ b
    return 2 * 2048**3 * reps / (time.perf_counter() - start)


def run_one(kind: str, bf16: bool, rows: list[dict], evaluation: list[dict], queue) -> None:
    """One training run in a fresh process; puts its figures on `queue`."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from trainer.base import load_model, load_tokenizer, resolve_base
    from trainer.data import Row
    from trainer.preflight import prepare
    from trainer.template import use_template

    torch.manual_seed(HPARAMS["seed"])
    base = resolve_base(None)
    tokenizer = load_tokenizer(base)
    use_template(tokenizer, compact_tools=True)  # as the CPU presets train
    ours_train = prepare(
        tokenizer, "sft", [Row(f"r{i}", r) for i, r in enumerate(rows)], HPARAMS["max_length"], show=0
    )
    ours_eval = prepare(
        tokenizer, "sft", [Row(f"e{i}", r) for i, r in enumerate(evaluation)], HPARAMS["max_length"], show=0
    )
    tokens = sum(len(e["input_ids"]) for e in ours_train)
    out = Path(f"/tmp/bench-train-{kind}-{int(bf16)}")
    if kind == "ours":
        # here only: building our trainer makes TRL score only trained positions on CPU (in this process)
        from trainer.stages import sft_trainer

        config = bench_config("sft", bf16)
        trainer = sft_trainer(base, tokenizer, ours_train, ours_eval, config, out)
    else:  # plain TRL: its defaults, conversational rows, assistant-only loss from the same template; "trl-no-gc"
        # turns off TRL's default gradient checkpointing, as ours trains: no activations recomputed in the backward
        args = SFTConfig(
            output_dir=str(out),
            num_train_epochs=1,
            per_device_train_batch_size=HPARAMS["batch_size"],
            gradient_checkpointing=kind != "trl-no-gc",
            per_device_eval_batch_size=HPARAMS["batch_size"],
            learning_rate=HPARAMS["lr"],
            max_length=HPARAMS["max_length"],
            assistant_only_loss=True,
            bf16=bf16,
            seed=HPARAMS["seed"],
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            use_cpu=True,
        )
        lora = LoraConfig(
            r=HPARAMS["lora_r"],
            lora_alpha=HPARAMS["lora_alpha"],
            lora_dropout=HPARAMS["lora_dropout"],
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        # the export rows as they are: TRL parses the `tools` JSON string itself, and the template renders
        # argument strings verbatim
        trainer = SFTTrainer(
            model=load_model(base),
            args=args,
            train_dataset=Dataset.from_list(rows),
            eval_dataset=Dataset.from_list(evaluation),
            processing_class=tokenizer,
            peft_config=lora,
        )
    result = trainer.train()
    eval_loss = trainer.evaluate()["eval_loss"]
    n_base = sum(
        p.numel()
        for n, p in trainer.model.named_parameters()
        if not p.requires_grad and "embed_tokens" not in n
    )
    n_base += trainer.model.get_input_embeddings().weight.numel()  # tied LM head: a matmul per token
    n_lora = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    flops = (4 * n_base + 6 * n_lora) * tokens  # frozen weights: forward + input gradient; LoRA: all three
    seconds = result.metrics["train_runtime"]
    queue.put(
        {
            "run": kind,
            "precision": "bf16" if bf16 else "fp32",
            "tokens": tokens,
            "steps": result.global_step,
            "seconds": round(seconds, 1),
            "tokens_per_s": round(tokens / seconds, 1),
            "train_loss": round(result.training_loss, 4),
            "eval_loss": round(eval_loss, 4),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "achieved_gflops": round(flops / seconds / 1e9, 1),
            "matmul_peak_gflops": round(matmul_peak("bfloat16" if bf16 else "float32") / 1e9, 1),
        }
    )


def pairs_of(rows: list[dict]) -> list[dict]:
    """DPO rows from SFT rows: the prompt before the first assistant turn, that turn chosen, the next row's first
    assistant turn rejected."""

    def first(row):
        i = next(i for i, m in enumerate(row["messages"]) if m["role"] == "assistant")
        return row["messages"][:i], row["messages"][i]

    cut = [first(r) for r in rows]
    return [
        {
            "prompt": prompt,
            "chosen": [chosen],
            "rejected": [cut[(i + 1) % len(cut)][1]],
            "tools": row["tools"],
        }
        for i, (row, (prompt, chosen)) in enumerate(zip(rows, cut, strict=True))
    ]


def run_dpo(bf16: bool, rows: list[dict], queue) -> None:
    """Our DPO stage (fresh LoRA, the base as reference) over pairs of the rows, in a fresh process."""
    import torch

    from trainer.base import load_tokenizer, resolve_base
    from trainer.data import Row
    from trainer.preflight import prepare
    from trainer.stages import preference_trainer
    from trainer.template import use_template

    torch.manual_seed(HPARAMS["seed"])
    base = resolve_base(None)
    tokenizer = load_tokenizer(base)
    use_template(tokenizer, compact_tools=True)
    pairs = prepare(
        tokenizer,
        "dpo",
        [Row(f"p{i}", r) for i, r in enumerate(pairs_of(rows))],
        HPARAMS["max_length"],
        show=0,
    )
    tokens = sum(
        len(tokenizer(text=p["prompt"] + p[c]).input_ids) for p in pairs for c in ("chosen", "rejected")
    )
    config = bench_config("dpo", bf16)
    out = Path(f"/tmp/bench-train-dpo-{int(bf16)}")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    trainer = preference_trainer("dpo", base, None, tokenizer, pairs, [], config, out)
    built = time.perf_counter() - start
    result = trainer.train()
    seconds = result.metrics["train_runtime"]
    queue.put(
        {
            "run": "ours-dpo",
            "precision": "bf16" if bf16 else "fp32",
            "tokens": tokens,
            "steps": result.global_step,
            "seconds": round(seconds, 1),
            "tokens_per_s": round(tokens / seconds, 1),
            "reference_and_setup_seconds": round(built, 1),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        }
    )


def spawn(target, *args) -> dict:
    """Run `target(*args, queue)` in a fresh process; its figures."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    while True:
        try:
            figures = queue.get(timeout=10)
            break
        except Empty:
            if not proc.is_alive():  # killed (out of memory) before it could answer
                figures = {
                    "run": args[0] if isinstance(args[0], str) else "ours-dpo",
                    "exit_code": proc.exitcode,
                }
                break
    proc.join()
    print(json.dumps(figures), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="export folder (default: synthetic agent rows)")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--precision", default="fp32,bf16")
    parser.add_argument(
        "--runs", default="trl,trl-no-gc,ours", help="SFT runs, from trl, trl-no-gc, ours (ours is needed)"
    )
    args = parser.parse_args()
    if args.data:
        from trainer.data import load_rows

        rows = [r.data for r in load_rows(Path(args.data), "sft", "train")][: args.rows]
        evaluation = [r.data for r in load_rows(Path(args.data), "sft", "eval")][:8] or rows[:8]
    else:
        rows, evaluation = synthetic_rows(args.rows), synthetic_rows(8, seed=1)
    for precision in args.precision.split(","):
        bf16 = precision == "bf16"
        figures = {kind: spawn(run_one, kind, bf16, rows, evaluation) for kind in args.runs.split(",")}
        dpo = spawn(run_dpo, bf16, rows)
        ours = figures["ours"]
        for kind, label in (("trl", "TRL defaults"), ("trl-no-gc", "TRL without gradient checkpointing")):
            trl = figures.get(kind, {})
            if "tokens_per_s" not in trl:
                print(f"{precision}: {label}: no figures ({trl or 'not run'})", flush=True)
                continue
            print(
                f"{precision}: ours {ours['tokens_per_s']} tokens/s vs {label} {trl['tokens_per_s']} tokens/s = "
                f"{ours['tokens_per_s'] / trl['tokens_per_s']:.2f}x (target >= 2x); eval loss "
                f"{ours['eval_loss']} vs {trl['eval_loss']} ({ours['eval_loss'] / trl['eval_loss'] - 1:+.1%}, "
                f"target within 1%); peak RSS {ours['peak_rss_mb']} vs {trl['peak_rss_mb']} MB = "
                f"{ours['peak_rss_mb'] / trl['peak_rss_mb']:.2f} (target <= 0.33); MFU "
                f"{ours['achieved_gflops'] / ours['matmul_peak_gflops']:.1%} vs "
                f"{trl['achieved_gflops'] / trl['matmul_peak_gflops']:.1%}",
                flush=True,
            )
        print(
            f"{precision}: DPO step vs SFT step over the same tokens: "
            f"{ours['tokens_per_s'] / dpo['tokens_per_s']:.2f}x "
            f"the time per token (target <= 2x; {dpo['steps']} DPO steps of {HPARAMS['batch_size']} pairs, "
            f"{dpo['tokens_per_s']} tokens/s; reference log-probs and setup once: "
            f"{dpo['reference_and_setup_seconds']} s); DPO peak RSS {dpo['peak_rss_mb']} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
