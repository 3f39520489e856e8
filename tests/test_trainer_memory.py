"""Memory and DPO cost: the tiled LM head equals full logits, micro-batches give the optimizer step of the whole
batch, and the DPO reference is one frozen adapter on the same base whose log-probabilities, computed once before
training and cached in the run folder, equal the live ones."""

from __future__ import annotations

import pytest
import torch
from conftest_trainer import write_export

from trainer.presets import TrainConfig


def test_tiled_lm_head_loss_and_gradients_equal_full_logits(monkeypatch):
    """Tiles smaller than the tokens and the vocabulary (several of each, the last ones ragged) give the
    log-probabilities and the gradients of the plain full-logits twin."""
    from trl.kernels import chunked_logprob
    from trl.trainer import utils

    from trainer.lm_head import plain_token_logps, tiled_token_logps, use_cpu_tiles

    use_cpu_tiles()
    assert chunked_logprob.TOKEN_CHUNK_SIZE == 1024 and utils._CHUNKED_LOGPROB_CHUNK_SIZE == 8192
    monkeypatch.setattr(chunked_logprob, "TOKEN_CHUNK_SIZE", 7)
    monkeypatch.setattr(utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", 300)
    torch.manual_seed(0)
    hidden = torch.randn(30, 16, dtype=torch.float32, requires_grad=True)
    weight = (torch.randn(1000, 16, dtype=torch.float32) * 0.5).requires_grad_()
    targets = torch.randint(0, 1000, (30,))
    upstream = torch.randn(30, dtype=torch.float32)  # any loss built on the log-probs, not only their sum

    results = []
    for score in (plain_token_logps, tiled_token_logps):
        hidden.grad = weight.grad = None
        logps = score(hidden, weight, targets)
        (logps * upstream).sum().backward()
        results.append((logps.detach(), hidden.grad.clone(), weight.grad.clone()))
    (plain, plain_dh, plain_dw), (tiled, tiled_dh, tiled_dw) = results
    torch.testing.assert_close(tiled, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tiled_dh, plain_dh, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tiled_dw, plain_dw, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_micro_batches_make_the_same_optimizer_step_as_the_whole_batch(tmp_path, tiny_base, tokenizer):
    """batch_size 4 run as 4 micro-batches of one row (gradients accumulated, the loss normalized over all four
    rows' tokens) moves the adapter exactly as one batch of 4 padded rows does."""
    from trainer.data import load_rows
    from trainer.preflight import prepare
    from trainer.stages import sft_trainer

    export = write_export(tmp_path / "export", kinds=("sft",))
    rows = prepare(tokenizer, "sft", load_rows(export, "sft", "train")[:4], 1024, show=0)
    config = TrainConfig(
        batch_size=4, max_steps=1, sft_lr=1e-2, lora_dropout=0.0, qlora=False, bf16=False, save_steps=100
    )
    adapters = []
    for micro in (None, 1):
        torch.manual_seed(0)
        trainer = sft_trainer(
            tiny_base,
            tokenizer,
            rows,
            [],
            TrainConfig(**{**config.__dict__, "micro_batch_size": micro}),
            tmp_path / f"micro-{micro}",
        )
        assert trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps == 4
        trainer.train()
        adapters.append(
            {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
        )
    whole, micro = adapters
    assert whole.keys() == micro.keys() and whole
    moved = 0
    for name, value in whole.items():
        torch.testing.assert_close(micro[name], value, rtol=1e-4, atol=1e-6, msg=name)
        moved += "lora_B" in name and bool(value.abs().sum() > 0)
    assert moved  # the step did move the adapter (lora_B starts at zero)


@pytest.mark.slow
def test_dpo_reference_is_one_frozen_adapter_and_precomputed_logps_equal_live(tmp_path, tiny_base, tokenizer):
    """No second model: the reference is a frozen `ref` copy of the SFT adapter on the same base. Its
    log-probabilities are computed once, cached in the run folder, and still equal the live reference after the
    policy has trained (while the policy's own have moved away)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainer.data import load_rows
    from trainer.preflight import prepare
    from trainer.stages import preference_trainer

    torch.manual_seed(0)
    sft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_base),
        LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"),
    )
    sft.save_pretrained(tmp_path / "sft-adapter")
    export = write_export(tmp_path / "export", kinds=("dpo",))
    rows = prepare(tokenizer, "dpo", load_rows(export, "dpo", "train"), 1024, show=0)
    config = TrainConfig(batch_size=4, max_steps=2, dpo_lr=5e-2, qlora=False, bf16=False, save_steps=100)
    out = tmp_path / "dpo"
    trainer = preference_trainer("dpo", tiny_base, tmp_path / "sft-adapter", tokenizer, rows, [], config, out)

    assert trainer.ref_model is None and set(trainer.model.peft_config) == {"default", "ref"}
    assert all(not p.requires_grad for n, p in trainer.model.named_parameters() if ".ref." in n)
    cached = list((out / "rows" / "train").glob("cache-*.arrow"))
    assert cached, "the reference log-probabilities are cached in the run folder"
    precomputed = torch.tensor(
        [*trainer.train_dataset["ref_chosen_logps"], *trainer.train_dataset["ref_rejected_logps"]]
    )

    trainer.train()
    columns = trainer._remove_unused_columns(
        trainer.train_dataset
    )  # as the Trainer's own loader, in row order
    batch = next(
        iter(torch.utils.data.DataLoader(columns, batch_size=len(rows), collate_fn=trainer.data_collator))
    )
    with torch.no_grad():
        live = torch.cat(trainer.compute_ref_log_probs(trainer.model, batch))
        policy = trainer.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100),
            fused_lm_head=True,
            use_cache=False,
        ).log_probs.sum(dim=1)
    torch.testing.assert_close(live, precomputed, rtol=1e-4, atol=1e-4)
    assert (policy - live).abs().max() > 1e-2  # the policy trained; the reference stayed where it was

    again = preference_trainer("dpo", tiny_base, tmp_path / "sft-adapter", tokenizer, rows, [], config, out)
    assert list(again.train_dataset["ref_chosen_logps"]) == list(trainer.train_dataset["ref_chosen_logps"])
    assert sorted((out / "rows" / "train").glob("cache-*.arrow")) == sorted(cached)  # read back, not redone


def test_a_capped_preference_stage_scores_only_the_rows_its_steps_take():
    """The reference pass runs before training over the training rows: with a step limit below one epoch, only
    a seeded sample of exactly the rows the steps take (batch x accumulation x steps) is handed to TRL."""
    from trainer.stages import rows_the_steps_use

    rows = [{"i": i} for i in range(270)]
    capped = TrainConfig(batch_size=4, grad_accum=2, pref_max_steps=4, seed=3)
    taken = rows_the_steps_use(rows, capped, "dpo")
    assert len(taken) == 32 and len({r["i"] for r in taken}) == 32
    assert taken == rows_the_steps_use(rows, capped, "dpo")  # seeded
    assert rows_the_steps_use(rows, TrainConfig(batch_size=4), "dpo") == rows  # epochs decide: all rows
    assert rows_the_steps_use(rows[:20], capped, "dpo") == rows[:20]  # fewer rows than the steps take


def test_right_padding_takes_the_causal_kernel_with_the_same_logps(tiny_base, monkeypatch):
    """Training batches are right-padded: the decoder drops such a mask (attention takes its causal kernel) and
    every real position's log-probability is what the masked forward gives; a left-padded mask is kept."""
    from transformers import AutoModelForCausalLM

    from trainer.base import causal_kernel_for_right_padding

    plain = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    fast = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    causal_kernel_for_right_padding(fast)
    masks = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, attn_mask=None, **kwargs):
        masks.append(attn_mask is not None)
        return sdpa(*args, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    torch.manual_seed(0)
    ids = torch.randint(3, plain.config.vocab_size, (2, 40))
    right = torch.ones(2, 40, dtype=torch.long)
    right[1, 27:] = 0
    left = right.flip(-1)

    def logps(model, mask):
        masks.clear()
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        return torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0] * mask[:, 1:]

    expected = logps(plain, right)
    assert masks and all(masks), "the plain model attends with the padding mask"
    got = logps(fast, right)
    assert masks and not any(masks), "a right-padded batch runs without a mask"
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

    expected = logps(plain, left)
    got = logps(fast, left)
    assert masks and all(masks), "left padding keeps its mask"
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
