"""Scale-out, launched for real: `accelerate launch` starts two processes that train one run together (DDP over
gloo on CPU), and the run folder holds what one process would write: one adapter, one metrics record per step."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_trainer import write_export

ACCELERATE = Path(sys.executable).parent / "accelerate"


@pytest.mark.slow
def test_two_processes_train_one_run(tmp_path, tiny_base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    export = write_export(tmp_path / "export", kinds=("sft", "dpo"))
    out = tmp_path / "run"
    # `--multi_gpu` is accelerate's torch.distributed launcher; without a GPU each process trains on CPU over gloo
    # (`--cpu` alone starts one process unless MPI is installed).
    command = [
        str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "trainer", "run", "--data", str(export), "--out", str(out), "--base", str(tiny_base),
        "--stages", "sft,dpo", "--max-steps", "2", "--batch-size", "4", "--no-bf16", "--no-qlora", "--json",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = [
        json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")
    ]  # main answers
    for stage in ("sft", "dpo"):
        summary = result["stages"][stage]
        assert summary["processes"] == 2 and summary["steps"] == 2
        assert math.isfinite(summary["loss_last"]) and math.isfinite(summary["eval_loss"])
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records if r["stage"] == stage] == [
            1,
            2,
        ]  # logged once, not once per process
    assert sorted(p.name for p in (out / "sft" / "adapter").glob("adapter_*")) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), out / "dpo" / "adapter")


@pytest.mark.parametrize(
    ("name", "kind"), [("deepspeed_zero3", "DEEPSPEED"), ("fsdp", "FSDP")], ids=["deepspeed_zero3", "fsdp"]
)
def test_multi_gpu_configs_are_read_by_accelerate(name, kind):
    """The shipped `accelerate launch --config_file` files parse as accelerate's own config (an unknown or
    misspelled key is refused), without a GPU; ZeRO-3 shards parameters, gradients and optimizer state."""
    from importlib.resources import files

    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(files("trainer") / "assets" / "accelerate" / f"{name}.yaml"))
    assert config.distributed_type.name == kind and config.num_machines == 1
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3 and config.mixed_precision == "bf16"
