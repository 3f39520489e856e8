"""Exports verified by the libraries that read them: every file loads with `datasets` in each
format to the same rows, SFT rows go through TRL's `SFTTrainer` preparation with
`assistant_only_loss=True` and the project's tool-calling template (the trained tokens are the
assistant turns: thoughts and tool calls, never tool results or user text), and DPO rows through
`DPOTrainer` preparation (the completion is one assistant turn after the whole prompt).

No model hub: a byte-level BPE tokenizer is trained on the export itself and the model is a
one-layer random Llama."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from test_pairs import build_store

from curator.export import export_store
from curator.store import Store
from trainer.template import GENERIC_TEMPLATE

pytestmark = pytest.mark.slow

TEMPLATE = GENERIC_TEMPLATE
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("trl")
    db = tmp / "store.duckdb"
    build_store(tmp, db)
    with Store(db, read_only=True) as store:
        return {
            fmt: Path(export_store(store, tmp / fmt, file_format=fmt, eval_fraction=0.3)["out"])
            for fmt in ("jsonl", "parquet", "hf")
        }


@pytest.fixture(scope="module")
def tokenizer(exports):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [line.decode() for p in exports["jsonl"].rglob("*.jsonl") for line in p.read_bytes().splitlines()]
    bpe.train_from_iterator(
        texts + [TEMPLATE.read_text()],
        trainers.BpeTrainer(
            vocab_size=600, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = TEMPLATE.read_text()
    return tok


@pytest.fixture(scope="module")
def model(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=4096,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def load(exports, fmt: str, kind: str, cache: Path):
    import datasets

    folder = exports[fmt] / kind
    if fmt == "hf":
        return datasets.load_from_disk(str(folder))
    files = {s: str(folder / f"{s}.{fmt}") for s in ("train", "eval") if (folder / f"{s}.{fmt}").exists()}
    return datasets.load_dataset(
        "json" if fmt == "jsonl" else "parquet", data_files=files, cache_dir=str(cache)
    )


def test_every_file_loads_with_datasets_to_the_same_rows(exports, tmp_path):
    for kind in ("sft", "dpo", "kto"):
        loaded = {fmt: load(exports, fmt, kind, tmp_path) for fmt in exports}
        jsonl = exports["jsonl"] / kind
        for split, ds in loaded["jsonl"].items():
            written = [orjson.loads(line) for line in (jsonl / f"{split}.jsonl").read_bytes().splitlines()]
            assert ds.to_list() == written, (kind, split)  # nothing None-padded or re-encoded
            for fmt in ("parquet", "hf"):
                assert loaded[fmt][split].to_list() == written, (fmt, kind, split)


def _runs(mask) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


def test_sft_rows_train_exactly_the_assistant_turns(exports, tokenizer, model, tmp_path):
    from trl import SFTConfig, SFTTrainer

    ds = load(exports, "jsonl", "sft", tmp_path)["train"]
    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=ds,
        args=SFTConfig(
            output_dir=str(tmp_path / "sft"),
            assistant_only_loss=True,
            report_to="none",
            max_length=None,
            bf16=False,
            use_cpu=True,
        ),
    )
    prepared = trainer.train_dataset
    assert len(prepared) == len(ds) > 0
    for row, example in zip(ds, prepared, strict=True):
        spans = [
            tokenizer.decode(example["input_ids"][a:b])
            for a, b in _runs([label != -100 for label in example["labels"]])
        ]
        assistants = [m for m in row["messages"] if m["role"] == "assistant"]
        assert len(spans) == len(assistants)
        for span, message in zip(spans, assistants, strict=True):
            assert span.startswith(message["content"]) and span.endswith("<|im_end|>")
            for call in message["tool_calls"] or ():
                assert f'"name": "{call["function"]["name"]}"' in span
                assert call["function"]["arguments"] in span
            assert "<tool_response>" not in span and "<|im_start|>" not in span
        trained = "".join(spans)
        for message in row["messages"]:
            if message["role"] in ("user", "system"):
                assert message["content"] not in trained


def test_dpo_rows_go_through_dpo_preparation(exports, tokenizer, model, tmp_path):
    from trl import DPOConfig, DPOTrainer

    ds = load(exports, "jsonl", "dpo", tmp_path)["train"]
    trainer = DPOTrainer(
        model=model,
        ref_model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=ds,
        args=DPOConfig(
            output_dir=str(tmp_path / "dpo"), report_to="none", max_length=None, bf16=False, use_cpu=True
        ),
    )
    prepared = trainer.train_dataset
    assert len(prepared) == len(ds) > 0
    for row, example in zip(ds, prepared, strict=True):
        prompt = tokenizer.apply_chat_template(
            row["prompt"], tools=orjson.loads(row["tools"]), add_generation_prompt=True, tokenize=False
        )
        assert tokenizer.decode(example["prompt_ids"]) == prompt  # the whole prompt, uncut
        for side in ("chosen", "rejected"):
            text = tokenizer.decode(example[f"{side}_ids"])
            assert text.startswith(row[side][0]["content"])
            assert text.count("<|im_end|>") == 1 and "<tool_response>" not in text
