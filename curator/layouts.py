"""An export in the dataset layouts of other trainers (`curator export --for`, SPEC 8).

TRL's layout (SPEC 6) is the one the export writes; LLaMA-Factory's and Axolotl's are made from
its rows by the pure functions here, one row at a time, then `rewrite_export` puts them in place
of the TRL files (same folders and file names) with each trainer's own registration file.

The rules follow each trainer's loader, including where multi-turn tool calls break silently:

- **LLaMA-Factory** (`formatting: sharegpt`): turns must alternate human/observation with
  gpt/function_call, or the row is dropped with only a log line. So consecutive tool results
  become one observation (joined as LLaMA-Factory's own OpenAI converter joins them) and
  consecutive user messages one human turn, a trajectory ending on a tool result loses that
  untrained tail, and a row that still cannot alternate (a user message right after a tool
  result) is left out here and listed in the manifest. A function call's thought would be lost
  (LLaMA-Factory #9107), so it goes before the call JSON as `<think>...</think>`, which
  LLaMA-Factory's function formatter splits off and renders as the step's reasoning.
  LLaMA-Factory has no per-message training flag: a row whose trained turns are a prefix is cut
  after it (exactly the same loss); any other pattern is left out.
- **Axolotl** (`type: chat_template`): messages keep OpenAI tool calls, each with its
  `training` flag (`message_field_training: training`); `tools` is a list whose `parameters`
  stay JSON strings (Axolotl parses them; Arrow would pad differently shaped schemas with
  nulls). Axolotl's DPO `chat_template.default` keeps only `role` and `content` of each message
  (Axolotl #1645 is why only that strategy is multi-turn), so a tool call there is written into
  the content as a `<tool_call>` block. Axolotl's KTO strategies take one-turn string prompts,
  so the Axolotl layout has no `kto/` (TRL's layout has it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from curator.export import SPLITS, dataset_card, file_hashes

TARGETS = ("trl", "llamafactory", "axolotl")
TRAINING = "training"  # the per-message flag of an SFT row (prefix salvage), when the row has one
REWRITTEN = ("sft", "dpo", "kto")  # what a layout rewrites; prm/ stays as TRL writes it
TARGET_KINDS = {"llamafactory": REWRITTEN, "axolotl": ("sft", "dpo")}  # Axolotl's KTO is one-turn


class Unalignable(ValueError):
    """A row the target trainer would drop or misread; the reason names why."""


# -- shared: tool calls -----------------------------------------------------------------------


def arguments(text):
    """A call's arguments as the JSON object they encode, or the raw text when they are not one
    (a teacher's malformed call, typically a rejected side: that text is what it wrote)."""
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def calls(message: dict) -> list[dict]:
    """The message's tool calls as `{"name", "arguments"}` (arguments parsed where they parse)."""
    return [
        {"name": c["function"]["name"], "arguments": arguments(c["function"]["arguments"])}
        for c in message.get("tool_calls") or []
    ]


def tool_specs(tools: str | None) -> list[dict]:
    """The row's `tools` (a JSON string of OpenAI specs) as a list."""
    return json.loads(tools) if tools else []


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- LLaMA-Factory (ShareGPT) -----------------------------------------------------------------

SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
# How consecutive prompt-side turns are joined into one: tool results as LLaMA-Factory's own
# OpenAI converter joins parallel results, user messages as paragraphs.
JOINS = {"observation": "\n</tool_response>\n<tool_response>\n", "human": "\n\n"}


def sharegpt_turn(message: dict) -> dict:
    """One OpenAI message as a ShareGPT turn (tool results are merged by `sharegpt`)."""
    role = message["role"]
    if role == "user":
        return {"from": "human", "value": message.get("content") or ""}
    if role == "tool":
        return {"from": "observation", "value": message.get("content") or ""}
    made = calls(message)
    if not made:
        return {"from": "gpt", "value": message.get("content") or ""}
    value = _dumps(made[0] if len(made) == 1 else made)
    thought = (message.get("content") or "").strip()
    return {
        "from": "function_call",
        "value": f"<think>\n{thought}\n</think>\n\n{value}" if thought else value,
    }


def sharegpt(messages: list[dict]) -> tuple[str, list[dict]]:
    """System prompt and turns; consecutive tool results become one observation, consecutive
    user messages one human turn (neither is trained; only the turn boundary goes)."""
    system = "\n\n".join(m.get("content") or "" for m in messages if m["role"] == "system")
    turns = []
    for message in messages:
        if message["role"] == "system":
            continue
        turn = sharegpt_turn(message)
        if turn["from"] in JOINS and turns and turns[-1]["from"] == turn["from"]:
            turns[-1] = {
                "from": turn["from"],
                "value": turns[-1]["value"] + JOINS[turn["from"]] + turn["value"],
            }
        else:
            turns.append(turn)
    return system, turns


def check_alternation(turns: list[dict], *, ends_on_prompt: bool) -> None:
    """LLaMA-Factory's rule: human/observation at even positions, gpt/function_call at odd ones;
    a prompt of a pair ends on the prompt side, a conversation on the answer side."""
    for i, turn in enumerate(turns):
        expected = ("human", "observation") if i % 2 == 0 else ("gpt", "function_call")
        if turn["from"] not in expected:
            raise Unalignable(f"turn {i} is {turn['from']} where LLaMA-Factory needs {' or '.join(expected)}")
    if not turns or (len(turns) % 2 == 1) != ends_on_prompt:
        raise Unalignable(
            f"{len(turns)} turns: LLaMA-Factory needs an {'odd' if ends_on_prompt else 'even'} count"
        )


def trained_prefix(messages: list[dict]) -> list[dict]:
    """The messages up to the last trained assistant turn, where the trained turns are exactly the
    assistant turns of that prefix (prefix salvage); LLaMA-Factory trains every answer it sees."""
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    flags = [messages[i].get(TRAINING, True) for i in answers]
    if all(flags):
        return messages
    trained = flags.index(False)
    if not trained or any(flags[trained:]):
        raise Unalignable("its trained turns are not a prefix of the conversation")
    return messages[: answers[trained - 1] + 1]


def _sharegpt_tools(tools: str | None) -> str:
    return _dumps([t.get("function", t) for t in tool_specs(tools)])


def llamafactory_sft(row: dict) -> dict:
    system, turns = sharegpt(trained_prefix(row["messages"]))
    while turns and turns[-1]["from"] in ("observation", "human"):
        turns.pop()  # an untrained tail: nothing after the last answer is learned
    check_alternation(turns, ends_on_prompt=False)
    return {"conversations": turns, "system": system, "tools": _sharegpt_tools(row.get("tools"))}


def llamafactory_dpo(row: dict) -> dict:
    system, turns = sharegpt(row["prompt"])
    check_alternation(turns, ends_on_prompt=True)
    chosen, rejected = (sharegpt_turn(row[side][0]) for side in ("chosen", "rejected"))
    return {
        "conversations": turns,
        "chosen": chosen,
        "rejected": rejected,
        "system": system,
        "tools": _sharegpt_tools(row.get("tools")),
    }


def llamafactory_kto(row: dict) -> dict:
    system, turns = sharegpt(row["prompt"])
    turns.append(sharegpt_turn(row["completion"][0]))
    check_alternation(turns, ends_on_prompt=False)
    return {
        "conversations": turns,
        "kto_tag": bool(row["label"]),
        "system": system,
        "tools": _sharegpt_tools(row.get("tools")),
        "tags": row.get("tags", []),
    }


def dataset_info(counts: dict) -> dict:
    """LLaMA-Factory's `dataset_info.json`: one entry per kind and split written."""
    columns = {
        "sft": {"messages": "conversations", "system": "system", "tools": "tools"},
        "dpo": {
            "messages": "conversations",
            "chosen": "chosen",
            "rejected": "rejected",
            "system": "system",
            "tools": "tools",
        },
        "kto": {"messages": "conversations", "kto_tag": "kto_tag", "system": "system", "tools": "tools"},
    }
    info = {}
    for kind in TARGET_KINDS["llamafactory"]:
        for split in SPLITS:
            if counts[kind][split]:
                name = f"curator_{kind}" + ("" if split == "train" else "_eval")
                info[name] = {
                    "file_name": f"{kind}/{split}.jsonl",
                    "formatting": "sharegpt",
                    **({"ranking": True} if kind == "dpo" else {}),
                    "columns": columns[kind],
                    "tags": SHAREGPT_TAGS,
                }
    return info


# -- Axolotl (chat_template) ------------------------------------------------------------------


def axolotl_message(message: dict) -> dict:
    """An OpenAI message without the nulls Parquet/datasets add, with its training flag."""
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message.get("tool_calls"):
        if any(isinstance(c["arguments"], str) for c in calls(message)):
            raise Unalignable("a tool call whose arguments are not a JSON object (Axolotl parses them)")
        out["tool_calls"] = [
            {"id": c.get("id"), "type": "function", "function": c["function"]} for c in message["tool_calls"]
        ]
    for key in ("tool_call_id", "name"):
        if message.get(key):
            out[key] = message[key]
    out[TRAINING] = bool(message.get(TRAINING, True)) and message["role"] == "assistant"
    return out


def axolotl_tools(tools: str | None) -> list[dict]:
    """OpenAI specs with `parameters` as a JSON string (Axolotl parses it back)."""
    out = []
    for spec in tool_specs(tools):
        function = dict(spec.get("function", spec))
        function["parameters"] = _dumps(function.get("parameters") or {"type": "object", "properties": {}})
        out.append({"type": "function", "function": function})
    return out


def axolotl_sft(row: dict) -> dict:
    messages = [axolotl_message(m) for m in row["messages"]]
    if not any(m[TRAINING] for m in messages):
        raise Unalignable("no trained assistant turn")
    return {"messages": messages, "tools": axolotl_tools(row.get("tools"))}


def as_text(message: dict) -> dict:
    """A message as `role` and `content` only (Axolotl's DPO strategy reads nothing else): tool
    calls written after the thought as `<tool_call>` blocks, the form most tool templates use."""
    blocks = [f"<tool_call>\n{call_text(call)}\n</tool_call>" for call in calls(message)]
    content = "\n".join(filter(None, [message.get("content") or "", *blocks]))
    return {"role": message["role"], "content": content}


def call_text(call: dict) -> str:
    """A call as JSON text, its arguments as written when they do not parse."""
    args = call["arguments"]
    return (
        f'{{"name": {_dumps(call["name"])}, "arguments": {args if isinstance(args, str) else _dumps(args)}}}'
    )


def axolotl_dpo(row: dict) -> dict:
    chosen, rejected = as_text(row["chosen"][0]), as_text(row["rejected"][0])
    if not chosen["content"] or not rejected["content"]:
        raise Unalignable("an empty completion (Axolotl finds a completion by its text)")
    return {"messages": [as_text(m) for m in row["prompt"]], "chosen": chosen, "rejected": rejected}


AXOLOTL_ROLES = "{user: [user], assistant: [assistant], system: [system], tool: [tool]}"


def axolotl_config(kind: str, counts: dict) -> str:
    """A config snippet for `axolotl train` (paths relative to the export folder)."""
    dataset_type = "chat_template" if kind == "sft" else "chat_template.default"
    extra = (
        [
            "    field_messages: messages",
            "    message_field_training: training",
            "    roles_to_train: [assistant]",
            "    train_on_eos: turn",
        ]
        if kind == "sft"
        else [f"    roles: {AXOLOTL_ROLES}"]
    )

    def entry(split: str) -> list[str]:
        return [f"  - path: {kind}/{split}.jsonl", "    ds_type: json", f"    type: {dataset_type}", *extra]

    lines = [
        f"# Axolotl {kind.upper()} datasets from a curator export; run from the export folder",
        "# (paths are relative to it) and add your base_model, adapter and training settings.",
        *(["rl: dpo"] if kind == "dpo" else []),
        "datasets:",
        *entry("train"),
    ]
    if counts[kind]["eval"]:
        lines += ["test_datasets:", *entry("eval")]
    return "\n".join(lines) + "\n"


# -- rewriting an export folder ---------------------------------------------------------------

CONVERTERS = {
    "llamafactory": {"sft": llamafactory_sft, "dpo": llamafactory_dpo, "kto": llamafactory_kto},
    "axolotl": {"sft": axolotl_sft, "dpo": axolotl_dpo},
}


def convert_rows(target: str, kind: str, rows) -> tuple[list[dict], list[dict]]:
    """Converted rows (each keeps its `row_id` and `task_key`, the manifest's lineage keys) and
    the rows left out, as `{"row_id", "reason"}`."""
    convert = CONVERTERS[target][kind]
    out, left_out = [], []
    for row in rows:
        try:
            out.append({**convert(row), "row_id": row["row_id"], "task_key": row["task_key"]})
        except Unalignable as exc:
            left_out.append({"row_id": row["row_id"], "reason": str(exc)})
    return out, left_out


def rewrite_export(folder: Path, target: str) -> dict:
    """Turn a JSON Lines export (TRL's layout) into `target`'s, in place, file by file (each
    written beside and renamed over; a kind the target does not take, or a split left empty,
    has no file); returns the row counts written and the rows left out."""
    folder = Path(folder)
    counts = {kind: {split: 0 for split in SPLITS} for kind in REWRITTEN}
    left_out = []
    for kind, by_split in counts.items():
        for split in SPLITS:
            path = folder / kind / f"{split}.jsonl"
            if path.is_file() and kind in TARGET_KINDS[target]:
                by_split[split], dropped = _rewrite_file(path, target, kind)
                left_out += [{"kind": kind, "split": split, **d} for d in dropped]
            if path.is_file() and not by_split[split]:
                path.unlink()
        if (folder / kind).is_dir() and not any((folder / kind).iterdir()):
            (folder / kind).rmdir()
    if target == "llamafactory":
        _replace(folder / "dataset_info.json", json.dumps(dataset_info(counts), indent=2) + "\n")
    for kind in TARGET_KINDS[target] if target == "axolotl" else ():
        if counts[kind]["train"]:
            _replace(folder / f"axolotl_{kind}.yml", axolotl_config(kind, counts))
    return {"for": target, "counts": counts, "left_out": left_out}


def _rewrite_file(path: Path, target: str, kind: str) -> tuple[int, list[dict]]:
    with open(path, encoding="utf-8") as fh:
        rows, dropped = convert_rows(target, kind, (json.loads(line) for line in fh))
    _replace(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows), dropped


def apply_layout(folder, target: str) -> dict:
    """Rewrite a JSON Lines export in `target`'s layout, then its manifest (the layout, its row
    counts, the rows left out and the new file hashes; the TRL counts kept beside) and its
    dataset card. Returns the `curator export --json` counts of the files now there."""
    folder = Path(folder)
    layout = rewrite_export(folder, target)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["layout"] = {**layout, "trl_counts": manifest["counts"]}
    manifest["counts"] = {**manifest["counts"], **layout["counts"]}
    manifest["files"] = {
        name: digest
        for name, digest in file_hashes(folder).items()
        if name not in ("manifest.json", "README.md")
    }
    card = dataset_card(folder.name, manifest) + LAYOUT_NOTES[target]
    _replace(folder / "README.md", card)
    _replace(folder / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return {**layout["counts"], "for": target, "left_out": len(layout["left_out"])}


LAYOUT_NOTES = {
    "llamafactory": """
## Layout: LLaMA-Factory

The rows above are rewritten as LLaMA-Factory ShareGPT records (`conversations` of `from` /
`value` turns: `human`, `gpt`, `function_call`, `observation`; `system`; `tools` as a JSON
string); `dpo/` rows add `chosen` / `rejected` turns, `kto/` rows a `kto_tag`. `dataset_info.json`
registers them as `curator_sft`, `curator_dpo`, `curator_kto` (and `*_eval`): set
`dataset_dir` to this folder. A function call's thought is kept as `<think>...</think>` before
the call JSON. Rows LLaMA-Factory would drop are left out and listed in `manifest.json`
(`layout.left_out`).
""",
    "axolotl": """
## Layout: Axolotl

The rows above are rewritten for Axolotl's `chat_template` datasets: `messages` in OpenAI form
with a `training` flag on each, `tools` as a list of specs (`parameters` as JSON strings). `dpo/`
rows are `messages` / `chosen` / `rejected` with `role` and `content` only (tool calls written as
`<tool_call>` blocks: Axolotl's DPO strategy reads nothing else). `axolotl_sft.yml` and
`axolotl_dpo.yml` are config snippets; there is no `kto/` (Axolotl's KTO strategies are one-turn).
""",
}


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
