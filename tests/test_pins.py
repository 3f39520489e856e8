"""The private library behaviour the code patches or relies on is still there. Each is pinned with an upper
bound in pyproject.toml; when a new release moves it, this test fails and names what to re-check, instead of
the patch silently doing nothing (a slower run, or a model that stops learning)."""

from __future__ import annotations

import inspect


def nested_code(function, name: str):
    return next(c for c in function.__code__.co_consts if inspect.iscode(c) and c.co_name == name)


def test_trl_fused_lm_head_still_asks_use_triton_which_our_patch_replaces(monkeypatch):
    """trainer.lm_head.score_trained_positions_only replaces trl.trainer.utils._use_triton (pin: trl<1.17)."""
    import torch
    from trl.trainer import utils

    from trainer.lm_head import score_trained_positions_only

    assert callable(getattr(utils, "_use_triton", None)), "TRL no longer has trainer.utils._use_triton"
    forward = nested_code(utils.add_fused_lm_head, "_fused_forward")
    assert "_use_triton" in forward.co_names, (
        "TRL's fused LM head no longer looks up _use_triton at call time"
    )
    monkeypatch.setattr(utils, "_use_triton", utils._use_triton)  # restored after the test
    score_trained_positions_only()
    assert utils._use_triton(torch.device("cpu")) is True


def test_trl_tiles_are_read_at_call_time_where_use_cpu_tiles_sets_them():
    """trainer.lm_head.use_cpu_tiles sets TRL's tile sizes, module globals read at each call (pin: trl<1.17)."""
    from trl.kernels import chunked_logprob
    from trl.trainer import utils

    assert isinstance(chunked_logprob.TOKEN_CHUNK_SIZE, int), (
        "TRL renamed kernels.chunked_logprob.TOKEN_CHUNK_SIZE"
    )
    assert "TOKEN_CHUNK_SIZE" in chunked_logprob.ChunkedLogProbFunction.forward.__code__.co_names
    assert isinstance(utils._CHUNKED_LOGPROB_CHUNK_SIZE, int), "TRL renamed _CHUNKED_LOGPROB_CHUNK_SIZE"
    forward = nested_code(utils.add_fused_lm_head, "_fused_forward")
    assert "_CHUNKED_LOGPROB_CHUNK_SIZE" in forward.co_names


def test_bitsandbytes_4bit_layer_still_reads_the_flag_our_guard_clears():
    """trainer.base.cpu_4bit_guard clears Linear4bit.support_avx512bf16_for_cpu (pin: bitsandbytes<0.51)."""
    from bitsandbytes.nn import Linear4bit

    layer = Linear4bit(8, 8)
    assert hasattr(layer, "support_avx512bf16_for_cpu"), "bitsandbytes renamed support_avx512bf16_for_cpu"
    assert "support_avx512bf16_for_cpu" in Linear4bit.forward.__code__.co_names


def test_transformers_still_lists_causal_lm_types_where_we_read_them():
    """trainer.base checks a base model's type against this internal mapping (pin: transformers<6)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    assert MODEL_FOR_CAUSAL_LM_MAPPING_NAMES["llama"] == "LlamaForCausalLM"


def test_gradio_queue_still_polls_by_the_attributes_serve_slows_down():
    """curator.cli.serve.quiet_when_idle sets the queue's idle polling intervals (pin: gradio<7)."""
    import gradio as gr
    from gradio.queueing import Queue

    from curator.cli.serve import quiet_when_idle

    with gr.Blocks() as app:
        gr.Markdown("x")
    queue = quiet_when_idle(app.queue())._queue
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (0.01, 0.05)
    assert "sleep_when_free" in Queue.start_processing.__code__.co_names
    assert "progress_update_sleep_when_free" in Queue.start_progress_updates.__code__.co_names
