"""The one test on the real embedded SmolLM2-135M-Instruct: a few SFT steps, then the adapter loads with
`PeftModel.from_pretrained` and generates with the chat template saved beside it."""

from __future__ import annotations

import pytest
import torch
from conftest_trainer import TOOLS, prompt_of, write_export

pytestmark = pytest.mark.slow


def test_real_smollm2_trains_and_the_adapter_generates(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.base import resolve_base
    from trainer.presets import TrainConfig
    from trainer.run import train

    export = write_export(tmp_path / "export", n_train=4, kinds=("sft",))
    config = TrainConfig(
        stages=("sft",), batch_size=2, max_steps=3, sft_lr=1e-3, max_length=1024, qlora=False, bf16=False
    )
    result = train(export, tmp_path / "out", None, config)
    sft = result["stages"]["sft"]
    assert sft["steps"] == 3 and sft["loss_last"] < sft["loss_first"]
    tokenizer = AutoTokenizer.from_pretrained(result["adapter"])
    assert "<tool_call>" in tokenizer.chat_template
    base = AutoModelForCausalLM.from_pretrained(resolve_base(None))
    model = PeftModel.from_pretrained(base, result["adapter"])
    batch = tokenizer.apply_chat_template(
        prompt_of("Paris"), tools=TOOLS, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]
