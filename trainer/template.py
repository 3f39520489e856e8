"""Which chat template renders training rows, and the assistant-only loss mask it yields.

The model's own template is kept when it renders tool calls and tool results and marks assistant turns with
`{% generation %}` (directly or through TRL's training variant); otherwise the project's generic tool-calling
template from `trainer/assets/` is used. The choice is written into the tokenizer, which is saved with every adapter, so
inference renders exactly what training saw.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from trl.chat_template_utils import get_training_chat_template, has_generation_markers, supports_tool_calling

from trainer.errors import TrainerError

GENERIC_TEMPLATE = Path(str(files("trainer") / "assets" / "chat_template_tool_calling.jinja"))
CHATML_END = "<|im_end|>"


COMPACT_SWITCH = "{%- set compact_tools = false %}"


def generic_template(tokenizer, compact_tools: bool = False) -> str:
    """The generic template; for tokenizers without ChatML tokens the turn ends with the model's own EOS, so the
    model learns to stop with a token it already knows. `compact_tools` lists tools one line each (see the
    template's header)."""
    text = GENERIC_TEMPLATE.read_text(encoding="utf-8")
    if compact_tools:
        text = text.replace(COMPACT_SWITCH, COMPACT_SWITCH.replace("false", "true"))
    if "<|im_start|>" not in tokenizer.get_vocab():
        text = text.replace(CHATML_END, tokenizer.eos_token)
    return text


def choose_template(tokenizer, compact_tools: bool = False) -> str:
    """The chat template to train with (see the module docstring)."""
    own = tokenizer.chat_template
    if isinstance(own, str) and supports_tool_calling(tokenizer):
        if has_generation_markers(own):
            return own
        try:
            patched = get_training_chat_template(tokenizer)
        except ValueError:  # TRL has no training variant of this template
            patched = None
        if patched:
            return patched
    return generic_template(tokenizer, compact_tools)


def use_template(tokenizer, compact_tools: bool = False) -> str:
    """Install the chosen template on the tokenizer (and thus in every adapter saved with it)."""
    tokenizer.chat_template = choose_template(tokenizer, compact_tools)
    return tokenizer.chat_template


def end_of_turn(tokenizer) -> str:
    """The token that closes an assistant turn in the installed template."""
    return CHATML_END if CHATML_END in tokenizer.chat_template else tokenizer.eos_token


def render(tokenizer, messages: list[dict], tools: list | None, *, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=False, add_generation_prompt=generation_prompt
    )


def token_roles(tokenizer, messages: list[dict], tools: list | None, input_ids: list[int]) -> list[int]:
    """For each token, the index of the message it belongs to."""
    full = render(tokenizer, messages, tools)
    ends = []
    for i in range(len(messages)):
        prefix = render(tokenizer, messages[: i + 1], tools)
        if not full.startswith(prefix):
            raise TrainerError(
                "the chat template renders earlier turns differently once later turns follow "
                "(not prefix-preserving); pick another template"
            )
        ends.append(len(prefix))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    if list(enc["input_ids"]) != list(input_ids):
        raise TrainerError("tokenizing the rendered text does not give the trained token ids")
    owner, roles = 0, []
    for start, _ in enc["offset_mapping"]:
        while owner < len(ends) - 1 and start >= ends[owner]:
            owner += 1
        roles.append(owner)
    return roles


def tokenize_with_mask(tokenizer, messages: list[dict], tools: list | None) -> dict[str, list[int]]:
    """input_ids and labels (-100 outside the assistant turns) of one conversation."""
    enc = tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(enc["input_ids"])
    return {
        "input_ids": ids,
        "labels": [t if m else -100 for t, m in zip(ids, enc["assistant_masks"], strict=True)],
    }
