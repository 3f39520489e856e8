"""`benchmarks/gpu.py` runs end to end with a tiny shape on CPU (the 7-8B shapes wait for a GPU): QLoRA SFT then
DPO steps with the gpu-qlora preset, figures for both stages in one JSON object."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import run_benchmark

from trainer.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_benchmark_runs_the_tiny_shape_on_cpu():
    done = run_benchmark(
        "gpu.py", "--shape", "tiny", "--steps", "1", "--max-length", "1024", "--json", timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["qlora"] is True and figures["matmul_peak_tflops"] > 0
    rows_per_step = PRESETS["gpu-qlora"].batch_size * PRESETS["gpu-qlora"].grad_accum
    for stage in ("sft", "dpo"):
        f = figures[stage]
        assert f["steps"] == 1 and f["tokens"] > 100 * rows_per_step
        assert f["tokens_per_s"] > 0 and f["peak_memory_mb"] > 0 and 0 < f["mfu"] < 1


def test_the_big_shapes_are_the_published_ones():
    """The 7-8B configurations build (on the meta device: no memory) with their published parameter counts."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu import SHAPES

    for shape, billions in (("qwen2.5-7b", 7.6), ("llama-3.1-8b", 8.0)):
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**SHAPES[shape]))
        assert round(sum(p.numel() for p in model.parameters()) / 1e9, 1) == billions, shape
