"""Shared fixtures of the trainer tests: a tiny random Llama with the real SmolLM2 tokenizer, and export folders
that follow the SPEC 6 contract exactly (arguments and tools as JSON strings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CITIES = [
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Oslo",
    "Vienna",
    "Lisbon",
    "Prague",
    "Dublin",
    "Athens",
    "Warsaw",
    "Zurich",
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_web",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            },
        },
    },
]
SYSTEM = "You are an agent. Use the tools to answer."


def call(name: str, **arguments) -> dict:
    return {
        "id": "call_0",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def prompt_of(city: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"How warm is it in {city}?"}]


def sft_row(i: int, city: str) -> dict:
    temp = 10 + i
    return {
        "row_id": f"r{i}",
        "task_key": f"t{i}",
        "tools": json.dumps(TOOLS),
        "messages": prompt_of(city)
        + [
            {
                "role": "assistant",
                "content": f"I will look up the weather in {city}.",
                "tool_calls": [call("get_weather", city=city)],
            },
            {
                "role": "tool",
                "tool_call_id": "call_0",
                "name": "get_weather",
                "content": json.dumps({"city": city, "temp_c": temp}),
            },
            {"role": "assistant", "content": f"It is {temp} degrees Celsius in {city}."},
        ],
    }


def dpo_row(city: str) -> dict:
    return {
        "tools": json.dumps(TOOLS),
        "prompt": prompt_of(city),
        "chosen": [
            {
                "role": "assistant",
                "content": f"I will look up the weather in {city}.",
                "tool_calls": [call("get_weather", city=city)],
            }
        ],
        "rejected": [
            {
                "role": "assistant",
                "content": "I will search.",
                "tool_calls": [call("search_web", query=f"weather {city}", limit=3)],
            }
        ],
    }


def kto_row(city: str, good: bool) -> dict:
    row = dpo_row(city)
    return {
        "tools": row["tools"],
        "prompt": row["prompt"],
        "completion": row["chosen" if good else "rejected"],
        "label": good,
        "tags": [] if good else ["wrong_tool"],
    }


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_export(root: Path, n_train: int = 8, kinds=("sft", "dpo", "kto")) -> Path:
    """An export folder in the JSONL layout: DIR/{sft,dpo,kto}/{train,eval}.jsonl and DIR/manifest.json."""
    train, evaluation = CITIES[:n_train], CITIES[-2:]
    makers = {
        "sft": lambda cities: [sft_row(i, c) for i, c in enumerate(cities)],
        "dpo": lambda cities: [dpo_row(c) for c in cities],
        "kto": lambda cities: [kto_row(c, i % 2 == 0) for i, c in enumerate(cities)],
    }
    for kind in kinds:
        write_jsonl(root / kind / "train.jsonl", makers[kind](train))
        write_jsonl(root / kind / "eval.jsonl", makers[kind](evaluation))
    (root / "manifest.json").write_text(json.dumps({"counts": {k: n_train for k in kinds}}))
    return root


@pytest.fixture(scope="session")
def smol_path() -> Path:
    from trainer.base import resolve_base

    return resolve_base(None)


@pytest.fixture(scope="session")
def tokenizer(smol_path):
    from trainer.base import load_tokenizer
    from trainer.template import use_template

    tok = load_tokenizer(smol_path)
    use_template(tok)
    return tok


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, smol_path) -> Path:
    """A 2-layer random Llama (hidden 64) saved as a base folder, with the real SmolLM2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(smol_path)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    path = tmp_path_factory.mktemp("tiny-base")
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture()
def export_dir(tmp_path) -> Path:
    return write_export(tmp_path / "export")
