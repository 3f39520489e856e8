"""Pre-flight: before any training step, prove on every row that the loss falls on assistant turns only.

Each token is attributed to the message whose rendered text holds it; a row fails when a trained token belongs to
a system, user or tool message, when an assistant turn (or its end-of-turn token) is not trained, or when nothing
is trained. Rows longer than `max_length` would lose their end (often the final answer and its stop token): they
are named and left out, never silently cut.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable

from trainer.data import EXAMPLE, Row, context_turns, parse_tools, sft_messages
from trainer.errors import TrainerError
from trainer.template import end_of_turn, token_roles


def log(line: str) -> None:
    """Human progress goes to stderr, keeping stdout for `--json`."""
    print(line, file=sys.stderr, flush=True)


def check_sft_row(tokenizer, row: Row, example: dict) -> None:
    """Raise TrainerError naming the row when its loss mask is wrong (see module docstring)."""
    messages, flags = sft_messages(row)
    owners = token_roles(
        tokenizer, messages, parse_tools(row.data.get("tools"), row.where), example["input_ids"]
    )
    labels = example["labels"]
    if all(label == -100 for label in labels):
        raise TrainerError(f"{row.where}: row trains nothing (no assistant turn)")
    eot = tokenizer.convert_tokens_to_ids(end_of_turn(tokenizer))
    for index, (message, flag) in enumerate(zip(messages, flags, strict=True)):
        trained = [
            t
            for t, o, label in zip(example["input_ids"], owners, labels, strict=True)
            if o == index and label != -100
        ]
        if (message["role"] != "assistant" or not flag) and trained:
            what = f"{message['role']} text" if flag else "a context (training: false) assistant turn"
            raise TrainerError(
                f"{row.where}: loss falls on {what} (message {index}): {tokenizer.decode(trained)[:60]!r}"
            )
        if message["role"] == "assistant" and flag and (not trained or trained[-1] != eot):
            raise TrainerError(
                f"{row.where}: assistant turn (message {index}) is not trained through its end-of-turn token"
            )


def turns_trained(row: Row) -> str:
    """Which assistant turns of an SFT row train, as the pre-flight shows it."""
    messages, flags = sft_messages(row)
    trained = [i for i, m in enumerate(messages) if m["role"] == "assistant" and flags[i]]
    context = context_turns(row)
    return f"messages {', '.join(map(str, trained))} train" + (
        f"; {context} assistant turn(s) are context" if context else ""
    )


def trained_spans(tokenizer, example: dict) -> list[str]:
    """Decoded runs of trained tokens: what the model learns to write."""
    spans, run = [], []
    for token, label in zip(example["input_ids"], example["labels"], strict=True):
        if label != -100:
            run.append(token)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    return spans + ([tokenizer.decode(run)] if run else [])


def prepare(
    tokenizer, kind: str, rows: list[Row], max_length: int, *, show: int = 2, say: Callable[[str], None] = log
) -> list[dict]:
    """Examples of one kind ready for TRL, after the pre-flight checks and the length report."""
    examples = [EXAMPLE[kind](tokenizer, row) for row in rows]
    if kind == "sft":
        for row, example in zip(rows, examples, strict=True):
            check_sft_row(tokenizer, row, example)
        salvaged = [(row, e) for row, e in zip(rows, examples, strict=True) if context_turns(row)]
        if salvaged:
            say(f"sft: {len(salvaged)} row(s) train only their flagged assistant turns (prefix salvage)")
        for row, example in list(zip(rows, examples, strict=True))[:show] + salvaged[:1]:
            say(f"pre-flight {row.where}: trained text ({turns_trained(row)})")
            for span in trained_spans(tokenizer, example):
                say("  + " + span.replace("\n", "\n    "))
        lengths = [len(e["input_ids"]) for e in examples]
    else:
        completions = ("chosen", "rejected") if kind == "dpo" else ("completion",)
        lengths = [
            max(len(tokenizer(text=e["prompt"] + e[c]).input_ids) for c in completions) for e in examples
        ]
        for row, example in list(zip(rows, examples, strict=True))[:1]:
            say(f"pre-flight {row.where}: " + ", ".join(f"{c} {example[c]!r}" for c in completions))
    too_long = [row.where for row, n in zip(rows, lengths, strict=True) if n > max_length]
    say(
        f"{kind}: {len(rows)} rows, tokens min {min(lengths)} median {int(statistics.median(lengths))} "
        f"max {max(lengths)} (max_length {max_length})"
    )
    if too_long:
        say(
            f"{kind}: {len(too_long)} row(s) longer than max_length={max_length} would lose their end; left out: "
            + ", ".join(too_long[:5])
            + (" ..." if len(too_long) > 5 else "")
        )
    kept = [e for e, n in zip(examples, lengths, strict=True) if n <= max_length]
    if not kept:
        raise TrainerError(f"{kind}: every row is longer than max_length={max_length}; raise --max-length")
    return kept
