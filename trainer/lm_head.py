"""The LM head's loss without the full logits: TRL's fused head, told how to tile on CPU, and its plain twin.

TRL projects hidden states through the LM head in tiles of `TOKEN_CHUNK_SIZE` tokens x `chunk_size` vocabulary
columns and folds each tile into a running log-sum-exp, so the `(tokens, vocabulary)` logits never exist at once.
Its tiles (4096 x 32768) suit a GPU, where a Triton kernel folds a tile in place; on CPU the torch fold makes several
temporaries of the tile's size, so one SFT micro-batch peaked 2.6 GB above the same step with 1024 x 8192 tiles
(3.8 GB vs 1.1 GB for 3000 tokens of SmolLM2's 49k vocabulary), for no loss of speed. `plain_token_logps` is the
reference the tiled path must equal (tests/test_trainer_memory.py): full logits, `log_softmax`, gather.
"""

from __future__ import annotations

import torch

CPU_TILE_TOKENS = 1024
CPU_TILE_VOCAB = 8192


def plain_token_logps(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position from the full `(N, V)` logits: the slow, obvious twin of the tiled head."""
    return torch.log_softmax(hidden @ weight.t(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def tiled_token_logps(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position through TRL's tiled head, with the tiles in force (see `use_cpu_tiles`)."""
    from trl.trainer import utils

    return utils._ChunkedLogProbFunction.apply(
        hidden, weight, None, targets, 1.0, utils._CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, ("log_probs",)
    )[0]


def use_cpu_tiles() -> None:
    """Small LM-head tiles when training on CPU (see the module docstring); GPUs keep TRL's."""
    if torch.cuda.is_available():
        return
    from trl.kernels import chunked_logprob
    from trl.trainer import utils

    chunked_logprob.TOKEN_CHUNK_SIZE = CPU_TILE_TOKENS
    utils._CHUNKED_LOGPROB_CHUNK_SIZE = CPU_TILE_VOCAB


def score_trained_positions_only() -> None:
    """Make TRL's fused LM head score only the positions that have a label, on CPU as on GPU.

    TRL projects hidden states through the LM head in tiles; on devices without Triton it scores every position,
    prompt and padding included, so that tile shapes stay static for graph compilers (Neuron). Eager CPU compiles
    nothing, and agent rows train only their assistant turns, so scoring just those cut the LM head of a CPU SFT step
    from 18 s to 6.4 s of 67 s (SmolLM2, 8 agent rows). The loss and its gradients are unchanged: an
    unscored position contributes an exact zero either way (tests/test_trainer_train.py). A TRL without the fused
    head is left as it is."""
    from trl.trainer import utils

    use_triton = getattr(utils, "_use_triton", None)
    if use_triton is None or getattr(use_triton, "keeps_cpu_compact", False):
        return

    def compact(device) -> bool:
        return device.type == "cpu" or use_triton(device)

    compact.keeps_cpu_compact = True
    utils._use_triton = compact


def fit_lm_head() -> None:
    """Both CPU measures at once; every stage calls this before building its trainer."""
    score_trained_positions_only()
    use_cpu_tiles()
