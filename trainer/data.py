"""Export folders (SPEC 6) -> rows -> conversations with parsed tool calls -> token ids, labels and TRL datasets.

Each function is small and pure apart from reading files. Every row keeps a `where` (file and line or record)
so that any error or report names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trainer.errors import TrainerError, require_data_folder
from trainer.template import end_of_turn, render, token_roles, tokenize_with_mask

KINDS = ("sft", "dpo", "kto")
SPLITS = ("train", "eval")
REQUIRED = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}


@dataclass
class Row:
    where: str  # "DIR/sft/train.jsonl:12": what error messages and reports name
    data: dict


def load_rows(export_dir: Path, kind: str, split: str) -> list[Row]:
    """Rows of one kind and split from a JSONL, Parquet or `save_to_disk` export; [] when absent."""
    base = Path(export_dir) / kind
    if (base / f"{split}.jsonl").is_file():
        path = base / f"{split}.jsonl"
        rows = []
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(Row(f"{path}:{number}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise TrainerError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        return rows
    if (base / f"{split}.parquet").is_file():
        import pyarrow.parquet as pq

        path = base / f"{split}.parquet"
        return [Row(f"{path} row {i}", r) for i, r in enumerate(pq.read_table(path).to_pylist())]
    if (base / "dataset_dict.json").is_file():
        from datasets import load_from_disk

        splits = load_from_disk(str(base))
        if split not in splits:
            return []
        return [Row(f"{base}[{split}] row {i}", r) for i, r in enumerate(splits[split].to_list())]
    return []


def check_export(export_dir: Path) -> None:
    """A missing folder, or one without a single row to train on, is a user error, not a crash later."""
    export_dir = Path(export_dir)
    require_data_folder(export_dir)
    if not any(load_rows(export_dir, kind, "train") for kind in KINDS):
        raise TrainerError(f"data folder {export_dir} holds no training rows in sft/, dpo/ or kto/")


def parse_tools(value, where: str) -> list | None:
    """`tools` is stored as a JSON string (datasets would pad differently shaped schemas with None)."""
    if value in (None, "", "[]"):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise TrainerError(f"{where}: field 'tools' is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, list):
        raise TrainerError(f"{where}: field 'tools' must be a JSON list of function specs")
    return value or None


def clean_message(message: dict, where: str) -> dict:
    """One message without the None-padded keys that Parquet and `datasets` add, with tool-call arguments parsed
    from their JSON strings into objects, so that any chat template renders them the same way. Arguments that are
    not a JSON object (a teacher's malformed call, typically the rejected side of a pair) stay their raw text, which
    the template renders verbatim: that malformed text is what the model must learn not to write."""
    if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool"):
        raise TrainerError(
            f"{where}: message without a known role (system, user, assistant, tool): {str(message)[:80]}"
        )
    out = {k: v for k, v in message.items() if v is not None and k not in ("tool_calls", "training")}
    out["content"] = message.get("content") or ""
    calls = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or call
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                parsed = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                parsed = args
            args = parsed if isinstance(parsed, dict) else args
        if not fn.get("name") or not isinstance(args, (dict, str)):
            raise TrainerError(f"{where}: tool call needs a name and arguments: {str(call)[:80]}")
        calls.append(
            {
                "id": call.get("id") or f"call_{len(calls)}",
                "type": "function",
                "function": {"name": fn["name"], "arguments": args},
            }
        )
    if calls:
        out["tool_calls"] = calls
    return out


def messages_of(row: Row, field: str) -> list[dict]:
    value = row.data.get(field)
    if isinstance(value, str):  # a plain-text prompt or completion
        value = [{"role": "user" if field == "prompt" else "assistant", "content": value}]
    if not isinstance(value, list):
        raise TrainerError(f"{row.where}: field '{field}' must be a list of messages")
    return [clean_message(m, row.where) for m in value]


def check_fields(row: Row, kind: str) -> None:
    missing = [f for f in REQUIRED[kind] if f not in row.data]
    if missing:
        raise TrainerError(f"{row.where}: {kind} row lacks field(s) {', '.join(missing)}")


def sft_messages(row: Row) -> tuple[list[dict], list[bool]]:
    """The messages of an SFT row that matter to its loss, and whether each trains.

    An assistant message trains unless it carries `"training": false` (Axolotl's name for the flag; prefix
    salvage: the good steps of a failed trajectory train, its faulty step and what follows are context). Messages
    after the last trained turn cannot change the loss of a causal model, so they are left out: the same loss for
    fewer tokens."""
    messages = messages_of(row, "messages")
    flags = [m.get("training") is not False for m in row.data["messages"]]
    trained = [i for i, m in enumerate(messages) if m["role"] == "assistant" and flags[i]]
    end = trained[-1] + 1 if trained else len(messages)
    return messages[:end], flags[:end]


def context_turns(row: Row) -> int:
    """Assistant turns of an SFT row flagged `"training": false`."""
    return sum(m.get("role") == "assistant" and m.get("training") is False for m in row.data["messages"])


def sft_example(tokenizer, row: Row) -> dict:
    """A conversation rendered with the training template: input_ids and labels (trained assistant tokens only)."""
    check_fields(row, "sft")
    messages, flags = sft_messages(row)
    tools = parse_tools(row.data.get("tools"), row.where)
    example = tokenize_with_mask(tokenizer, messages, tools)
    if not all(flags):
        owners = token_roles(tokenizer, messages, tools, example["input_ids"])
        example["labels"] = [
            label if flags[o] else -100 for label, o in zip(example["labels"], owners, strict=True)
        ]
    return example


def prompt_and_completion(tokenizer, row: Row, completion_field: str) -> tuple[str, str]:
    """Prompt text (ending with the assistant header) and completion text (one assistant turn through its
    end-of-turn token), rendered exactly as in SFT. Handing TRL text rather than messages keeps `datasets`
    from re-padding tool calls and keeps SFT and DPO renderings identical."""
    tools = parse_tools(row.data.get("tools"), row.where)
    prompt = messages_of(row, "prompt")
    completion = messages_of(row, completion_field)
    if len(completion) != 1 or completion[0]["role"] != "assistant":
        raise TrainerError(
            f"{row.where}: '{completion_field}' must be exactly one assistant message "
            "(completions never contain tool results)"
        )
    prompt_text = render(tokenizer, prompt, tools, generation_prompt=True)
    full = render(tokenizer, prompt + completion, tools)
    if not full.startswith(prompt_text):
        raise TrainerError(
            f"{row.where}: the chat template renders the prompt differently alone and with its completion"
        )
    eot = end_of_turn(tokenizer)
    completion_text = full[len(prompt_text) :]
    completion_text = completion_text[: completion_text.rfind(eot) + len(eot)]
    if (
        tokenizer.bos_token
        and prompt_text.startswith(tokenizer.bos_token)
        and tokenizer(text="").input_ids[:1] == [tokenizer.bos_token_id]
    ):
        prompt_text = prompt_text[
            len(tokenizer.bos_token) :
        ]  # TRL tokenizes text with special tokens: one BOS
    return prompt_text, completion_text


def dpo_example(tokenizer, row: Row) -> dict:
    check_fields(row, "dpo")
    prompt, chosen = prompt_and_completion(tokenizer, row, "chosen")
    _, rejected = prompt_and_completion(tokenizer, row, "rejected")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def kto_example(tokenizer, row: Row) -> dict:
    check_fields(row, "kto")
    prompt, completion = prompt_and_completion(tokenizer, row, "completion")
    return {"prompt": prompt, "completion": completion, "label": bool(row.data["label"])}


EXAMPLE = {"sft": sft_example, "dpo": dpo_example, "kto": kto_example}
