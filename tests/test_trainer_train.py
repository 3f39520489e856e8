"""Training on a tiny random Llama with the real SmolLM2 tokenizer: SFT learns, DPO starts from the SFT policy with
that policy as the reference and widens the reward margin, a killed run resumes, merge agrees with the adapter."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from conftest_trainer import write_export

from trainer.presets import TrainConfig

pytestmark = pytest.mark.slow
FAST = TrainConfig(
    batch_size=4,
    max_steps=8,
    sft_lr=5e-3,
    dpo_lr=5e-3,
    kto_lr=5e-3,
    save_steps=100,
    bf16=False,
    qlora=False,
    max_length=1024,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_base):
    """One SFT-then-DPO run through the CLI with --json (stdout must hold exactly the JSON object)."""
    from trainer import cli

    root = tmp_path_factory.mktemp("run")
    write_export(root / "export")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(
            [
                "run",
                "--data",
                str(root / "export"),
                "--out",
                str(root / "out"),
                "--base",
                str(tiny_base),
                "--max-steps",
                "8",
                "--batch-size",
                "4",
                "--lr",
                "5e-3",
                "--dpo-lr",
                "5e-3",
                "--no-bf16",
                "--no-qlora",
                "--json",
            ]
        )
    assert code == 0
    return json.loads(stdout.getvalue()), root


def metrics(out, stage):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["stage"] == stage]


def test_sft_loss_falls_and_metrics_are_logged(run):
    result, root = run
    sft = result["stages"]["sft"]
    assert sft["steps"] == 8 and sft["loss_last"] < sft["loss_first"] - 0.3
    rows = metrics(root / "out", "sft")
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert all(r["tokens_per_s"] > 0 and "learning_rate" in r for r in rows)
    assert result["adapter"] == str(root / "out" / "dpo" / "adapter")


def test_dpo_reward_margin_grows(run):
    result, root = run
    margins = [r["rewards/margins"] for r in metrics(root / "out", "dpo")]
    assert margins[0] == pytest.approx(
        0.0, abs=1e-6
    )  # step 1 is scored before any update: policy == reference
    assert margins[-1] > 0.5 and result["stages"]["dpo"]["loss_last"] < 0.5


def completion_logps(model, batch):
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=labels,
        fused_lm_head=True,
        use_cache=False,
    )
    return out.log_probs.sum(dim=1)


def test_dpo_reference_is_the_sft_policy_not_the_base(run, tiny_base, smol_path):
    from trainer.base import load_tokenizer
    from trainer.data import load_rows
    from trainer.preflight import prepare
    from trainer.stages import preference_trainer
    from trainer.template import use_template

    _, root = run
    tokenizer = load_tokenizer(tiny_base)
    use_template(tokenizer)
    rows = prepare(tokenizer, "dpo", load_rows(root / "export", "dpo", "train"), 1024, show=0)
    trainer = preference_trainer(
        "dpo", tiny_base, root / "out" / "sft" / "adapter", tokenizer, rows, [], FAST, root / "ref-check"
    )
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        policy = completion_logps(trainer.model, batch)
        reference = torch.cat(trainer.compute_ref_log_probs(trainer.model, batch))
        with trainer.model.disable_adapter():
            base = completion_logps(trainer.model, batch)
    assert torch.allclose(policy, reference, atol=1e-4)
    assert (base - reference).abs().min() > 1.0  # SFT moved the policy far from the pre-SFT base


def test_killed_run_resumes_from_its_last_complete_checkpoint(tmp_path, tiny_base):
    """A real SIGKILL of `python -m trainer run` once a checkpoint is complete, then --resume."""
    import signal
    import subprocess
    import sys
    import time

    export = write_export(tmp_path / "export", n_train=8, kinds=("sft",))
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "trainer",
        "run",
        "--data",
        str(export),
        "--out",
        str(out),
        "--base",
        str(tiny_base),
        "--stages",
        "sft",
        "--max-steps",
        "12",
        "--save-steps",
        "2",
        "--batch-size",
        "2",
        "--no-bf16",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (out / "sft" / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, (
            "the run ended before its first checkpoint"
        )
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "sft" / "adapter").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "--resume" in done.stderr
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=True)
    sft = json.loads(done.stdout)["stages"]["sft"]
    assert sft["steps"] == 12
    resumed = int(sft["resumed_from"].split("-")[1])
    assert resumed >= 2
    steps = [r["step"] for r in metrics(out, "sft")]
    restart = next((i for i in range(1, len(steps)) if steps[i] <= steps[i - 1]), None)
    after = steps[restart:] if restart is not None else [s for s in steps if s > resumed]
    assert after == list(range(resumed + 1, 13))  # the resumed run went on from its checkpoint to the end


def test_merge_agrees_with_the_adapter(run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from trainer.merge import merge

    _, root = run
    adapter = root / "out" / "dpo" / "adapter"
    result = merge(adapter, tmp_path / "merged")
    assert result["max_abs_logit_diff"] < 1e-4
    ids = torch.tensor([[1, 2, 3, 400, 5000, 2]])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    base = AutoModelForCausalLM.from_pretrained(result["base"])
    with torch.no_grad():
        plain = base(ids).logits
        tuned = PeftModel.from_pretrained(base, adapter)(ids).logits
        assert torch.allclose(merged(ids).logits, tuned, atol=1e-4)
        assert not torch.allclose(plain, tuned, atol=1e-2)  # the adapter does change the model
    assert "<tool_call>" in (tmp_path / "merged" / "chat_template.jinja").read_text()


def test_lora_on_top_layers_trains_only_those_and_cuts_the_backward_pass(tiny_base):
    """`lora_layers`: adapters on the top N decoder layers only (all-linear there), so no gradient reaches the
    layers below; `pref_max_steps` caps the preference stages only."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from trainer.presets import stage_steps
    from trainer.stages import lora_config

    model = AutoModelForCausalLM.from_pretrained(tiny_base)  # 2 layers
    peft = get_peft_model(model, lora_config(TrainConfig(lora_layers=1), model))
    trained = {n for n, p in peft.named_parameters() if p.requires_grad}
    assert trained and all(".layers.1." in n for n in trained)
    assert {n.split(".layers.1.")[1].split(".lora")[0] for n in trained} == {
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    }
    reached = []
    for i, layer in enumerate(model.model.layers):
        layer.register_full_backward_hook(lambda *_, i=i: reached.append(i))
    ids = torch.tensor([[1, 2, 3, 4]])
    peft(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is not None for n, p in peft.named_parameters() if p.requires_grad)
    assert reached == [1]  # the backward pass never runs through layer 0

    config = TrainConfig(pref_max_steps=4)
    assert (stage_steps(config, "sft"), stage_steps(config, "dpo"), stage_steps(config, "kto")) == (-1, 4, 4)
    assert stage_steps(TrainConfig(max_steps=9, pref_max_steps=4), "dpo") == 9  # --max-steps wins


def test_cpu_lm_head_scores_only_trained_positions_with_the_same_loss_and_gradients(tiny_base, monkeypatch):
    """`score_trained_positions_only`: TRL's fused LM head gets the labelled positions only (not padding, prompt or
    tool text), and the loss and every gradient equal those of scoring all positions."""
    from transformers import AutoModelForCausalLM
    from trl.trainer import utils

    from trainer.lm_head import score_trained_positions_only

    monkeypatch.setattr(utils, "_use_triton", lambda device: False)  # TRL's own choice on CPU: every position
    scored = []
    apply = utils._ChunkedLogProbFunction.apply
    monkeypatch.setattr(
        utils._ChunkedLogProbFunction,
        "apply",
        lambda hidden, *args: scored.append(hidden.shape[0]) or apply(hidden, *args),
    )
    torch.manual_seed(0)
    ids = torch.randint(5, 1000, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # padding
    labels = torch.full_like(ids, -100)
    labels[0, 4:8], labels[1, 6:9] = ids[0, 4:8], ids[1, 6:9]

    def loss_and_grads():
        model = AutoModelForCausalLM.from_pretrained(tiny_base)
        utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
        loss = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True).loss
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    full_loss, full_grads = loss_and_grads()
    score_trained_positions_only()
    compact_loss, compact_grads = loss_and_grads()
    assert scored == [2 * 11, 7]  # every shifted position, then the 7 trained ones
    torch.testing.assert_close(compact_loss, full_loss)
    assert full_grads.keys() == compact_grads.keys() and len(full_grads) > 10
    for name, grad in full_grads.items():
        torch.testing.assert_close(compact_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
