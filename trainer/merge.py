"""Merge an adapter into its full-precision base (never into 4-bit weights), after checking that the merged
model computes the same logits as base + adapter on sample inputs."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import PeftModel

from trainer.base import load_model, load_tokenizer, resolve_base
from trainer.errors import TrainerError, require_adapter

SAMPLES = [
    [{"role": "user", "content": "What is the weather in Paris tomorrow?"}],
    [
        {"role": "system", "content": "You are a careful agent."},
        {"role": "user", "content": "Book a table for 2."},
    ],
]


def merge(adapter: Path, out: Path, base: str | None = None, tolerance: float = 1e-3) -> dict:
    adapter, out = Path(adapter), Path(out)
    require_adapter(adapter)
    config_file = adapter / "adapter_config.json"
    base_path = resolve_base(base or json.loads(config_file.read_text())["base_model_name_or_path"])
    tokenizer = load_tokenizer(adapter)  # holds the chat template used in training
    model = PeftModel.from_pretrained(load_model(base_path, qlora=False), adapter).eval()
    batch = tokenizer.apply_chat_template(
        SAMPLES, add_generation_prompt=True, padding=True, return_dict=True, return_tensors="pt"
    )
    with torch.no_grad():
        expected = model(**batch).logits
        merged = model.merge_and_unload()
        got = merged(**batch).logits
    mask = batch["attention_mask"].bool()
    diff = (expected - got).abs()[mask].max().item()
    scale = expected[mask].abs().max().item()
    if diff > tolerance * max(1.0, scale):
        raise TrainerError(f"merged model disagrees with base + adapter: max logit difference {diff:.2e}")
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"out": str(out), "base": str(base_path), "adapter": str(adapter), "max_abs_logit_diff": diff}
