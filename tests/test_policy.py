"""trainer.policy: batched generation that reuses the cache from turn to turn must answer every conversation
exactly as plain `generate` on the full re-rendered prompt does, through shared prefixes, rewinds (the template
re-renders a turn differently from what the model wrote), rows that stop early, dropped rows and a full context."""

from __future__ import annotations

import json

import pytest
from conftest_trainer import smol_path, tiny_base  # noqa: F401

from curator.envs.sample import SYSTEM_PROMPT, TOOLS
from trainer.policy import ContextFull, ModelPolicy
from trainer.template import render

pytestmark = pytest.mark.slow


def generated(policy: ModelPolicy, messages: list[dict]) -> list[int]:
    """The tokens plain greedy `generate` writes after the whole rendered conversation, no cache kept."""
    import torch
    from transformers import GenerationConfig

    tokenizer = policy.tokenizer
    ids = tokenizer(
        render(tokenizer, messages, TOOLS, generation_prompt=True),
        add_special_tokens=False,
        return_tensors="pt",
    )["input_ids"]
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=policy.max_new_tokens,
        eos_token_id=policy.stop_ids,
        pad_token_id=policy.pad_id,
    )
    with torch.no_grad():
        out = policy.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config
        )
    return out[0, ids.shape[1] :].tolist()


def reference(policy: ModelPolicy, messages: list[dict]) -> str:
    """The reply text of `generated`, cut as the policy cuts it."""
    new = generated(policy, messages)
    while new and new[-1] in policy.stop_ids:
        new.pop()
    return policy.tokenizer.decode(new, skip_special_tokens=False).split(policy.end_text)[0]


def conversation(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def tool_turn(messages: list[dict], name: str, result: dict) -> None:
    """Append an assistant tool call (not what the model wrote: the row must rewind) and its result."""
    messages.append(
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": name, "arguments": {"city": "Oslo"}}}
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": "c1", "name": name, "content": json.dumps(result)})


def lively(tiny_base) -> ModelPolicy:  # noqa: F811
    """A policy on the tiny random model with weights scaled up: its greedy text varies from row to row and
    token to token (the plain random init repeats one token)."""
    import torch
    from transformers import AutoModelForCausalLM

    from trainer.base import load_tokenizer
    from trainer.template import use_template

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0, 0.3)
    tokenizer = load_tokenizer(tiny_base)
    use_template(tokenizer)
    policy = ModelPolicy(model=model, tokenizer=tokenizer, max_new_tokens=10)
    policy.load()
    return policy


def assert_cache_holds_seen_tokens(session) -> None:
    """Every row's visible cache columns hold the keys and values a fresh forward of its seen tokens gives."""
    import torch

    for row, seen in enumerate(session.seen):
        with torch.no_grad():
            fresh = session.policy.model(input_ids=torch.tensor([seen]), use_cache=True).past_key_values
        assert session.mask[row].sum().item() == len(seen)
        for layer, expected in zip(session.cache.layers, fresh.layers, strict=True):
            for got, want in ((layer.keys, expected.keys), (layer.values, expected.values)):
                assert torch.allclose(got[row][:, session.cols[row]], want[0], atol=1e-4)


def test_session_matches_plain_generate(tiny_base):  # noqa: F811
    policy = lively(tiny_base)
    texts = [
        "What's the weather in Oslo?",
        "Refund order O-1",
        "Book flight F-22 for Ann please, today",
        "Convert 10 EUR to USD",
    ]
    conversations = {i: conversation(t) for i, t in enumerate(texts)}
    # Stop tokens that the rows reach at different steps, so some rows stop early and the batch shrinks.
    first = {i: generated(policy, m) for i, m in conversations.items()}
    policy.stop_ids = sorted(set(policy.stop_ids) | {first[0][3], first[2][6]})
    lengths = {len(generated(policy, m)) for m in conversations.values()}
    assert len(lengths) > 1 and min(lengths) < 10  # rows really stop at different steps
    expected = {i: reference(policy, m) for i, m in conversations.items()}

    session = policy.session(TOOLS)
    assert session(conversations) == expected
    assert_cache_holds_seen_tokens(session)
    for i, messages in conversations.items():
        messages.append({"role": "assistant", "content": expected[i]})  # the model's own words: no rewind
        messages.append({"role": "user", "content": f"Thanks. And item {i}?"})
    tool_turn(conversations[1], "get_weather", {"forecast": "rain"})
    del conversations[3]  # finished: its row is dropped
    assert session(conversations) == {i: reference(policy, m) for i, m in conversations.items()}
    assert_cache_holds_seen_tokens(session)
    tool_turn(conversations[0], "get_order", {"error": "unknown order"})
    assert session({0: conversations[0]}) == {0: reference(policy, conversations[0])}

    # the one-conversation call is the same path
    assert policy(conversations[2], TOOLS) == reference(policy, conversations[2])


def test_context_full_ends_one_row_only(tiny_base):  # noqa: F811
    policy = lively(tiny_base)
    short, long = conversation("Hi"), conversation("word " * 300)
    policy.context = (
        len(
            policy.tokenizer(
                render(policy.tokenizer, short, TOOLS, generation_prompt=True), add_special_tokens=False
            )["input_ids"]
        )
        + policy.max_new_tokens
    )
    replies = policy.session(TOOLS)({"short": short, "long": long})
    assert isinstance(replies["long"], ContextFull) and "tokens" in str(replies["long"])
    assert replies["short"] == reference(policy, short)
    with pytest.raises(ContextFull):
        policy(long, TOOLS)
    with pytest.raises(ValueError, match="first call"):
        session = policy.session(TOOLS)
        session({"a": short})
        session({"b": short})
