"""Writing the training data an export folder holds (SPEC 6): what `trainer` reads.

`export_store` writes, for the current state of the store and the chosen filters:

    DIR/sft/{train,eval}.jsonl   accepted and edited trajectories: messages, tools
    DIR/dpo/{train,eval}.jsonl   pairs (edit, compare, same-task): prompt, chosen, rejected, tools
    DIR/kto/{train,eval}.jsonl   failures: prompt, completion (the first faulty turn), label, tags
    DIR/manifest.json            counts, filters, seed, per-row lineage, file hashes
    DIR/README.md                dataset card

(`.parquet` files, or one `datasets.save_to_disk` folder per kind, with `file_format`.) Splits are made by
task: a task's rows all land in `train` or all in `eval`. A split without rows has no file:
`datasets` cannot load an empty JSON Lines file. The folder is built beside its final place and
renamed into it at the end, so a failed or killed export leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path

import orjson

from curator import rows
from curator.errors import JobError
from curator.filters import ExportFilters, selected_sql
from curator.messages import ASSISTANT, flat_message, json_string, task_messages
from curator.pairs import (
    ACCEPTED,
    Failure,
    Pair,
    assistant_positions,
    build_pairs,
    count_by_source,
    cut_messages,
    failure_cut,
    lineage,
    load_items,
    load_tasks,
    snapshot,
)
from curator.store import Store

__all__ = [
    "ExportError",
    "ExportFilters",
    "export_store",
    "list_exports",
    "preview_counts",
    "resolve_export_dir",
]

KINDS = ("sft", "dpo", "kto", "prm")
SPLITS = ("train", "eval")
FILE_FORMATS = ("jsonl", "parquet", "hf")
REHEARSAL_ROLES = ("system", "user", "assistant", "tool")
DEFAULT_REHEARSAL_RATIO = 0.1
BATCH = 4096

Progress = Callable[[float, str], None]
ROW_MEANING = {  # the dataset card's "what a row is"
    "sft": "an accepted (or edited, then accepted) trajectory: `messages`, `tools`",
    "dpo": (
        "a preference pair: `prompt` (messages up to one assistant turn), `chosen` and `rejected` "
        "(that one assistant turn each), `tools`"
    ),
    "kto": (
        "a failure: `prompt`, `completion` (the first faulty assistant turn), `label` (false), "
        "`tags` (failure tags), `tools`"
    ),
    "prm": (
        "stepwise supervision (with `--prm`): `prompt` (the task), `completions` (each assistant "
        "step with its tool results, as text), `labels` (true before the first faulty step, false "
        "from it on)"
    ),
}


class ExportError(JobError):
    """An export that cannot be made as asked; one line (the CLI exits 1 with it)."""


class _BadRow(Exception):
    """One rehearsal line that is not a chat row; it is left out and reported."""


# -- rows ------------------------------------------------------------------------------------


def _json_list(*parts: str) -> orjson.Fragment:
    """Message JSON texts (each one message, or several joined with commas; '' for none) as the
    JSON array a row holds, written as is."""
    return orjson.Fragment("[" + ",".join(filter(None, parts)) + "]")


def _load_tasks(con, task_hashes) -> dict[str, tuple[str, orjson.Fragment]]:
    """task_hash -> (its `task_messages` as JSON texts joined with commas, its `tools` value: the
    stored JSON as a JSON string), rendered once per task and shared by all its rows (escaping
    the tools of every row again took a third of the rows' serialising)."""
    return {
        h: (
            ",".join(orjson.dumps(m).decode() for m in task_messages(task)),
            orjson.Fragment(orjson.dumps(tools)),
        )
        for h, (task, tools) in load_tasks(con, task_hashes).items()
    }


# -- splits ------------------------------------------------------------------------------------


def eval_tasks(task_keys, eval_fraction: float, seed: int) -> set[str]:
    """The tasks that go to `eval`: ranked by a seeded hash, the first round(fraction x tasks).

    A task's place in the ranking depends only on the seed and its key, so the same seed and
    store give the same split. With any fraction above 0 and two or more tasks, each split gets
    at least one task."""
    keys = sorted(set(task_keys), key=lambda k: hashlib.sha256(f"{seed}\0{k}".encode()).digest())
    n = round(eval_fraction * len(keys))
    if eval_fraction > 0 and len(keys) > 1:
        n = min(max(n, 1), len(keys) - 1)
    return set(keys[:n])


# -- planning: what an export holds, without writing ---------------------------------------------


class _Plan:
    """The selection of one export: SFT query, pairs and failures, and the task split."""

    def __init__(
        self,
        con,
        filters: ExportFilters,
        eval_fraction: float,
        seed: int,
        salvage: bool = False,
        prm: bool = False,
    ):
        self.con, self.filters, self.salvage, self.prm = con, filters, salvage, prm
        self.sft_sql, self.sft_params = selected_sql(con, filters, ACCEPTED)
        failed = load_items(con, filters, ("failed",))
        self.failures: list[Failure] = []
        self.skipped: list[dict] = []
        for item in failed:
            cut = failure_cut(item)
            if cut is None:
                self.skipped.append(
                    {
                        "traj_id": item.traj_id,
                        "reason": (
                            f"first faulty step {item.first_step} is not one of its "
                            f"{len(assistant_positions(item.keys))} steps"
                        ),
                    }
                )
            else:
                self.failures.append(cut)
        self.pairs = build_pairs(con, filters, failed)
        # prefix salvage: a failure with good steps before its first faulty one also gives an SFT row
        self.salvaged = [f for f in self.failures if f.step > 0] if salvage else []
        self.sft_tasks: dict[str, int] = defaultdict(int)  # task_key -> SFT rows
        self.sft_hashes = set()
        for key, task_hash, n in con.execute(
            f"SELECT task_key, task_hash, count(*) FROM ({self.sft_sql}) GROUP BY ALL", self.sft_params
        ).fetchall():
            self.sft_tasks[key] += n
            self.sft_hashes.add(task_hash)
        keys = {*self.sft_tasks, *(p.task_key for p in self.pairs), *(f.item.task_key for f in self.failures)}
        self.eval = eval_tasks(keys, eval_fraction, seed)
        self.n_tasks = len(keys)

    def split(self, task_key: str) -> str:
        return "eval" if task_key in self.eval else "train"

    def counts(self) -> dict:
        def by_split(keys_and_counts):
            out = dict.fromkeys(SPLITS, 0)
            for key, n in keys_and_counts:
                out[self.split(key)] += n
            return out

        return {
            "sft": by_split([*self.sft_tasks.items(), *((f.item.task_key, 1) for f in self.salvaged)]),
            "dpo": by_split((p.task_key, 1) for p in self.pairs),
            "kto": by_split((f.item.task_key, 1) for f in self.failures),
        }

    def empty(self) -> bool:
        return not (self.sft_tasks or self.pairs or self.failures)


def preview_counts(
    store: Store,
    filters: ExportFilters | None = None,
    *,
    eval_fraction: float = 0.1,
    seed: int = 0,
    salvage: bool = False,
) -> dict:
    """What `export_store` with these settings would write, without writing: rows per file
    (`{"sft": {"train", "eval"}, "dpo": ..., "kto": ...}`), pairs by source, tasks, skipped."""
    with snapshot(store) as con:
        plan = _Plan(con, filters or ExportFilters(), eval_fraction, seed, salvage)
        return {
            **plan.counts(),
            "pairs": count_by_source(plan.pairs),
            "tasks": {"train": plan.n_tasks - len(plan.eval), "eval": len(plan.eval)},
            "skipped": len(plan.skipped),
        }


# -- writing -----------------------------------------------------------------------------------


class _Files(ExitStack):
    """The JSON Lines files of one export being written, opened on first use, closed on exit;
    each is hashed as it is written (reading them back costs as much again)."""

    def __init__(self, root: Path):
        super().__init__()
        self.root, self.handles, self.rows, self.digests = root, {}, {}, {}

    def write(self, kind: str, split: str, lines: list[bytes]) -> None:
        if not lines:
            return
        name = f"{kind}/{split}.jsonl"
        handle = self.handles.get(name)
        if handle is None:
            (self.root / kind).mkdir(exist_ok=True)
            handle = self.enter_context((self.root / name).open("wb"))
            self.handles[name], self.rows[name], self.digests[name] = handle, 0, hashlib.sha256()
        data = b"".join(lines)
        self.digests[name].update(data)
        handle.write(data)
        self.rows[name] += len(lines)

    def hashes(self) -> dict:
        """`file_hashes` of the files written, without reading them back."""
        return {
            name: {"bytes": self.handles[name].tell(), "sha256": self.digests[name].hexdigest()}
            for name in sorted(self.handles)
        }


def export_store(
    store: Store,
    out_dir,
    *,
    file_format: str = "jsonl",
    eval_fraction: float = 0.1,
    seed: int = 0,
    filters: ExportFilters | None = None,
    rehearsal: str | os.PathLike | None = None,
    rehearsal_ratio: float = DEFAULT_REHEARSAL_RATIO,
    overwrite: bool = False,
    progress: Progress | None = None,
    selection: dict | None = None,
    salvage: bool = False,
    prm: bool = False,
) -> dict:
    """Write an export folder; returns the `curator export --json` object (SPEC 8).

    `selection`: how `curator select` chose the trajectories (strategy, seed, ids), recorded as
    is in the manifest.

    `rehearsal`: a JSON Lines file of general chat rows (`messages`, optional `tools`) mixed into
    the SFT training split so that `rehearsal_ratio` of it is rehearsal (the guard against
    forgetting); rows are drawn without repeats, seeded. `salvage`: prefix salvage, a failed
    trajectory whose first faulty step has good steps before it is also an SFT row, its assistant
    turns flagged `training` true before that step and false from it on. `progress(fraction,
    message)` is told how far the export got. `prm`: stepwise-supervision rows in `DIR/prm/` (TRL
    `prompt` / `completions` / `labels`) of every accepted and failed trajectory. Raises
    `ExportError` (one line) for anything the user must change.
    """
    filters = filters or ExportFilters()
    _check_options(store, file_format, eval_fraction, rehearsal_ratio, filters)
    progress = progress or (lambda fraction, message: None)
    out = Path(out_dir)
    _check_out(out, overwrite)
    with snapshot(store) as con:
        summary = _export(
            con,
            store,
            out,
            filters,
            file_format,
            eval_fraction,
            seed,
            rehearsal,
            rehearsal_ratio,
            progress,
            selection,
            salvage,
            prm,
        )
    progress(1.0, f"wrote {out}")
    return summary


def _export(
    con,
    store: Store,
    out: Path,
    filters: ExportFilters,
    file_format: str,
    eval_fraction: float,
    seed: int,
    rehearsal,
    rehearsal_ratio: float,
    progress: Progress,
    selection: dict | None,
    salvage: bool,
    prm: bool,
) -> dict:
    """The export inside its snapshot. Its millions of small objects live in this frame only, so
    they are freed before `snapshot` turns the cyclic collector back on (which would otherwise
    scan them all once more: a tenth of the export's time)."""
    progress(0.0, "selecting rows")
    plan = _Plan(con, filters, eval_fraction, seed, salvage, prm)
    if plan.empty():
        raise ExportError(
            f"nothing to export: no accepted, edited or failed trajectory matches{_describe(filters)}"
        )
    mix = _read_rehearsal(Path(rehearsal)) if rehearsal else None
    tmp = _make_tmp(out)
    try:
        manifest = _write(con, plan, tmp, file_format, seed, mix, rehearsal_ratio, progress)
        manifest.update(
            curator_export=1,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            store=str(store.path),
            format=file_format,
            seed=seed,
            eval_fraction=eval_fraction,
            filters=filters.to_dict(),
            taxonomy_version=store.taxonomy_version(),
            skipped=plan.skipped,
        )
        if selection:
            manifest["selection"] = selection
        (tmp / "README.md").write_text(dataset_card(out.name, manifest), encoding="utf-8")
        (tmp / "manifest.json").write_bytes(orjson.dumps(_ordered(manifest), option=orjson.OPT_INDENT_2))
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "out": str(out),
        **manifest["counts"],
        "pairs": manifest["pairs"],
        "tasks": manifest["tasks"],
        "rehearsal": manifest["rehearsal"],
        "skipped": len(plan.skipped),
    }


def _write(
    con, plan: _Plan, tmp: Path, file_format: str, seed: int, mix, ratio: float, progress: Progress
) -> dict:
    lineage = {kind: [] for kind in KINDS}
    tasks = _load_tasks(con, [p.task_hash for p in plan.pairs] + [f.item.task_hash for f in plan.failures])
    with _Files(tmp) as files:
        total, done = max(1, sum(plan.sft_tasks.values())), 0
        for batch in _sft_records(con, plan, tasks):
            _emit(files, lineage["sft"], plan, "sft", batch)
            done += len(batch)
            progress(0.8 * done / total, f"sft: {done} of {total} rows")
        _emit(files, lineage["sft"], plan, "sft", _salvage_records(con, plan, tasks))
        rehearsal = _mix_rehearsal(files, lineage["sft"], mix, ratio, seed)
        _emit(
            files,
            lineage["dpo"],
            plan,
            "dpo",
            map(_pair_record, plan.pairs, cut_messages(con, [p.cut for p in plan.pairs]), repeat(tasks)),
        )
        _emit(
            files,
            lineage["kto"],
            plan,
            "kto",
            map(
                _failure_record,
                plan.failures,
                cut_messages(con, [f.cut for f in plan.failures]),
                repeat(tasks),
            ),
        )
        _emit(files, lineage["prm"], plan, "prm", _prm_records(con, plan) if plan.prm else ())
        hashes = files.hashes()
    counts = {kind: {split: files.rows.get(f"{kind}/{split}.jsonl", 0) for split in SPLITS} for kind in KINDS}
    if file_format != "jsonl":
        progress(0.85, f"writing {file_format} files")
        _convert(tmp, file_format, files.rows, flagged=bool(plan.salvaged))
        progress(0.95, "hashing files")
        hashes = file_hashes(tmp)
    return {
        "counts": counts,
        "pairs": count_by_source(plan.pairs),
        "tasks": {"train": plan.n_tasks - len(plan.eval), "eval": len(plan.eval)},
        "rehearsal": rehearsal,
        "salvage": {
            "enabled": plan.salvage,
            "rows": len(plan.salvaged),
            "trained_steps": sum(f.step for f in plan.salvaged),
        },
        "files": hashes,
        "rows": lineage,
    }


def _emit(files: _Files, lineage: list, plan: _Plan, kind: str, records) -> None:
    """Write records (row, its lineage entry with the split left to fill) to their split's file,
    a chunk of BATCH lines at a time."""
    lines = {split: [] for split in SPLITS}
    for row, entry in records:
        entry["split"] = split = plan.split(row["task_key"])
        chunk = lines[split]
        chunk.append(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        lineage.append(entry)
        if len(chunk) == BATCH:
            files.write(kind, split, chunk)
            lines[split] = []
    for split, chunk in lines.items():
        files.write(kind, split, chunk)


def _sft_records(con, plan: _Plan, pair_tasks: dict):
    """SFT records in traj_id order, a batch at a time, so memory stays flat."""
    tasks = {**_load_tasks(con, [h for h in plan.sft_hashes if h not in pair_tasks]), **pair_tasks}
    cursor = con.execute(
        f"""
        SELECT traj_id, rev_id, task_key, task_hash, array_to_string(messages, ','), event_id,
               reviewer, edit_event, editor
        FROM ({plan.sft_sql}) ORDER BY traj_id""",
        plan.sft_params,
    )
    while rows := cursor.fetchmany(BATCH):
        batch = []
        for traj_id, rev_id, task_key, task_hash, turns, event_id, reviewer, edit_event, editor in rows:
            head, tools = tasks[task_hash]
            row_id = f"sft-{traj_id}.{rev_id}"
            row = {
                "messages": _json_list(head, turns),
                "tools": tools,
                "row_id": row_id,
                "task_key": task_key,
            }
            batch.append(
                (
                    row,
                    {
                        "row_id": row_id,
                        "split": None,
                        "task_key": task_key,
                        "traj_id": traj_id,
                        "rev_id": rev_id,
                        "events": lineage((edit_event, event_id)),
                        "reviewers": lineage((editor, reviewer)),
                    },
                )
            )
        yield batch


def _salvage_records(con, plan: _Plan, tasks: dict):
    """Prefix-salvage SFT records: each salvaged failure's whole revision, every assistant turn
    flagged `training` (true before the first faulty step, false from it on: context, not learned)."""
    if not plan.salvaged:
        return
    stored = dict(
        con.execute(
            "SELECT rev_id, messages FROM revisions WHERE rev_id IN (SELECT unnest(?))",
            [[f.item.rev_id for f in plan.salvaged]],
        ).fetchall()
    )
    for failure in plan.salvaged:
        item = failure.item
        head, tools = tasks[item.task_hash]
        turns = [
            _flagged(text, i < failure.at) if key[0] == ASSISTANT else text
            for i, (text, key) in enumerate(zip(stored[item.rev_id], item.keys, strict=True))
        ]
        row_id = f"sft-salvage-{item.traj_id}.{item.rev_id}"
        row = {
            "messages": _json_list(head, *turns),
            "tools": tools,
            "row_id": row_id,
            "task_key": item.task_key,
        }
        yield row, _item_entry(item, row_id, salvaged_steps=failure.step)


def _prm_records(con, plan: _Plan):
    """Stepwise-supervision records (`rows.prm_row`, no fast path: an opt-in kind) of the
    accepted trajectories (every step good) and the failures (good before the first faulty step)."""
    accepted = con.execute(
        f"SELECT traj_id, rev_id, task_key, task_hash FROM ({plan.sft_sql}) ORDER BY traj_id", plan.sft_params
    ).fetchall()
    items = [(*a, None) for a in accepted] + [
        (f.item.traj_id, f.item.rev_id, f.item.task_key, f.item.task_hash, f.step) for f in plan.failures
    ]
    turns = dict(
        con.execute(
            "SELECT rev_id, turns FROM revisions WHERE rev_id IN (SELECT unnest(?))", [[i[1] for i in items]]
        ).fetchall()
    )
    tasks = load_tasks(con, {i[3] for i in items})
    for traj_id, rev_id, task_key, task_hash, first_bad in items:
        row_id = f"prm-{traj_id}.{rev_id}"
        row = rows.prm_row(
            *tasks[task_hash], orjson.loads(turns[rev_id]), first_bad, row_id=row_id, task_key=task_key
        )
        entry = {"row_id": row_id, "split": None, "task_key": task_key, "traj_id": traj_id, "rev_id": rev_id}
        yield row, {**entry, "first_faulty_step": first_bad}


def _flagged(message_json: str, train: bool) -> str:
    """A stored assistant message with its training flag."""
    return orjson.dumps({**orjson.loads(message_json), "training": train}).decode()


def _pair_record(pair: Pair, messages: tuple[str, str, str], tasks: dict) -> tuple:
    head, tools = tasks[pair.task_hash]
    prompt, chosen, rejected = messages
    (ct, cr), (rt, rr), step = pair.chosen_from, pair.rejected_from, pair.step
    row_id, task_key = f"dpo-{pair.source}-{ct}.{cr}-{rt}.{rr}-s{step}", pair.task_key
    row = {
        "prompt": _json_list(head, prompt),
        "chosen": _json_list(chosen),
        "rejected": _json_list(rejected),
        "tools": tools,
        "row_id": row_id,
        "task_key": task_key,
    }
    return (
        row,
        {
            "row_id": row_id,
            "split": None,
            "task_key": task_key,
            "source": pair.source,
            "step": step,
            "chosen": {"traj_id": ct, "rev_id": cr},
            "rejected": {"traj_id": rt, "rev_id": rr},
            "events": pair.events,
            "reviewers": pair.reviewers,
        },
    )


def _failure_record(failure: Failure, messages: tuple[str, str, None], tasks: dict) -> tuple:
    item = failure.item
    head, tools = tasks[item.task_hash]
    prompt, completion, _ = messages
    row_id = f"kto-{item.traj_id}.{item.rev_id}"
    row = {
        "prompt": _json_list(head, prompt),
        "completion": _json_list(completion),
        "label": False,
        "tags": list(item.tags),
        "tools": tools,
        "row_id": row_id,
        "task_key": item.task_key,
    }
    return row, _item_entry(
        item, row_id, step=failure.step, tags=list(item.tags), taxonomy_version=item.taxonomy_version
    )


def _item_entry(item, row_id: str, **fields) -> dict:
    """The lineage entry of a row made from one trajectory revision (the split left to fill)."""
    return {
        "row_id": row_id,
        "split": None,
        "task_key": item.task_key,
        "traj_id": item.traj_id,
        "rev_id": item.rev_id,
        **fields,
        "events": lineage(item.events),
        "reviewers": lineage(item.reviewers),
    }


# -- rehearsal ---------------------------------------------------------------------------------


def _read_rehearsal(path: Path) -> dict:
    """Valid chat rows of a rehearsal file, and where the bad ones are (they are left out)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"rehearsal file {path}: {exc.strerror or exc}") from None
    rows, bad = [], []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((number, _rehearsal_row(line)))
        except _BadRow as exc:
            bad.append({"where": f"{path} line {number}", "reason": str(exc)})
    if not rows:
        first = f" ({bad[0]['where']}: {bad[0]['reason']})" if bad else ""
        raise ExportError(f"rehearsal file {path}: no chat rows with 'messages'{first}")
    return {"file": str(path), "sha256": hashlib.sha256(data).hexdigest(), "rows": rows, "bad": bad}


def _rehearsal_row(line: bytes) -> dict:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _BadRow(f"not valid JSON ({exc})") from None
    messages = value.get("messages") if isinstance(value, dict) else None
    if not isinstance(messages, list) or not messages:
        raise _BadRow("field 'messages' must be a non-empty list of chat messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in REHEARSAL_ROLES:
            raise _BadRow(f"messages[{i}]: role must be one of {', '.join(REHEARSAL_ROLES)}")
        if not isinstance(m.get("content") or "", str):
            raise _BadRow(f"messages[{i}].content must be a string")
    if not any(m["role"] == "assistant" for m in messages):
        raise _BadRow("no assistant message to learn from")
    tools = value.get("tools") or []
    return {"messages": [flat_message(m) for m in messages], "tools": json_string(tools)}


def _mix_rehearsal(files: _Files, lineage: list, mix: dict | None, ratio: float, seed: int) -> dict | None:
    """Add rehearsal rows to sft/train so that they make up `ratio` of it."""
    if mix is None:
        return None
    curated = files.rows.get("sft/train.jsonl", 0)
    wanted = round(ratio / (1 - ratio) * curated)
    chosen = sorted(random.Random(seed).sample(range(len(mix["rows"])), min(wanted, len(mix["rows"]))))
    lines = []
    for index in chosen:
        number, row = mix["rows"][index]
        lines.append(orjson.dumps({**row, "row_id": f"rehearsal-{number}", "task_key": "rehearsal"}) + b"\n")
        lineage.append(
            {
                "row_id": f"rehearsal-{number}",
                "split": "train",
                "task_key": "rehearsal",
                "file": mix["file"],
                "line": number,
            }
        )
    files.write("sft", "train", lines)
    return {
        "file": mix["file"],
        "sha256": mix["sha256"],
        "ratio": ratio,
        "wanted": wanted,
        "used": len(chosen),
        "available": len(mix["rows"]),
        "bad": mix["bad"][:20],
        "bad_count": len(mix["bad"]),
    }


# -- formats -----------------------------------------------------------------------------------


def arrow_schemas(flagged: bool = False) -> dict:
    """The Arrow schema of each kind's rows (Parquet and `datasets` folders). `flagged`: messages
    have a `training` column (an export with prefix-salvage rows; null where a message has no flag)."""
    import pyarrow as pa

    s = pa.string()
    call = pa.struct([("id", s), ("type", s), ("function", pa.struct([("name", s), ("arguments", s)]))])
    messages = pa.list_(
        pa.struct(
            [
                ("role", s),
                ("content", s),
                ("tool_calls", pa.list_(call)),
                ("tool_call_id", s),
                ("name", s),
                *([("training", pa.bool_())] if flagged else []),
            ]
        )
    )
    tail = [("tools", s), ("row_id", s), ("task_key", s)]
    prm = [("prompt", s), ("completions", pa.list_(s)), ("labels", pa.list_(pa.bool_()))]
    return {
        "sft": pa.schema([("messages", messages), *tail]),
        "dpo": pa.schema([("prompt", messages), ("chosen", messages), ("rejected", messages), *tail]),
        "prm": pa.schema([*prm, *tail]),
        "kto": pa.schema(
            [
                ("prompt", messages),
                ("completion", messages),
                ("label", pa.bool_()),
                ("tags", pa.list_(s)),
                *tail,
            ]
        ),
    }


def _convert(tmp: Path, file_format: str, written: dict, flagged: bool = False) -> None:
    """Turn the JSON Lines just written into Parquet files or `save_to_disk` folders."""
    import pyarrow.json as paj
    import pyarrow.parquet as pq

    schemas = arrow_schemas(flagged)
    for kind in KINDS:
        tables = {}
        for split in SPLITS:
            path = tmp / kind / f"{split}.jsonl"
            if f"{kind}/{split}.jsonl" not in written:
                continue
            tables[split] = paj.read_json(
                path,
                read_options=paj.ReadOptions(block_size=16 << 20),
                parse_options=paj.ParseOptions(explicit_schema=schemas[kind]),
            )
            if file_format == "parquet":
                pq.write_table(tables[split], tmp / kind / f"{split}.parquet")
            path.unlink()
        if file_format == "hf" and tables:
            _save_to_disk(tmp / kind, tables)


def _save_to_disk(folder: Path, tables: dict) -> None:
    """A `DatasetDict` folder; quiet (the export reports its own progress)."""
    import datasets
    from datasets.table import InMemoryTable

    fingerprint = hashlib.sha256(folder.name.encode())
    splits = {}
    for split, table in tables.items():
        fingerprint.update(str(table.num_rows).encode())
        splits[split] = datasets.Dataset(
            InMemoryTable(table), split=split, fingerprint=fingerprint.hexdigest()[:16]
        )
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(splits).save_to_disk(str(folder))
    finally:
        if bars:
            datasets.enable_progress_bars()


def file_hashes(root: Path) -> dict:
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        out[path.relative_to(root).as_posix()] = {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
    return out


# -- the output folder -------------------------------------------------------------------------


def resolve_export_dir(root, name: str) -> Path:
    """`root/name` for an export asked for by name (the app); refuses a name that leaves `root`
    (absolute, `..`, or through a link), so a user cannot write anywhere else on the server."""
    if not name or not str(name).strip():
        raise ExportError("an export needs a folder name")
    base = Path(root).resolve()
    path = (base / name).resolve()
    if Path(name).is_absolute() or path == base or not path.is_relative_to(base):
        raise ExportError(f"export name {name!r} is outside the export folder {base}")
    return path


def list_exports(root) -> list[dict]:
    """Exports under `root`, newest first: name, path, created_at, format, counts (the app)."""
    found = []
    for manifest in Path(root).glob("*/manifest.json"):
        try:
            m = orjson.loads(manifest.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        found.append(
            {
                "name": manifest.parent.name,
                "path": str(manifest.parent),
                "created_at": m.get("created_at"),
                "format": m.get("format"),
                "counts": m.get("counts"),
            }
        )
    return sorted(found, key=lambda e: e["created_at"] or "", reverse=True)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ExportError(f"{out}: exists and is not a folder")
        if not overwrite:
            raise ExportError(f"{out}: already exists; pass --overwrite to replace it")
        if any(out.iterdir()) and not (out / "manifest.json").is_file():
            raise ExportError(f"{out}: is not an earlier export (no manifest.json); refusing to replace it")
    existing = out.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ExportError(f"{out}: cannot write in {existing} (permission denied)")


def _make_tmp(out: Path) -> Path:
    tmp = out.absolute().parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise ExportError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return tmp


def _move_into_place(tmp: Path, out: Path) -> None:
    """Swap the finished folder in; an earlier export is removed only once the new one is there."""
    old = None
    if out.exists():
        old = out.absolute().parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- options, card -----------------------------------------------------------------------------


def _check_options(store: Store, file_format, eval_fraction, rehearsal_ratio, filters) -> None:
    if file_format not in FILE_FORMATS:
        raise ExportError(f"unknown export format {file_format!r}; use one of {', '.join(FILE_FORMATS)}")
    if not 0 <= eval_fraction < 1:
        raise ExportError(f"eval fraction must be at least 0 and below 1, got {eval_fraction}")
    if not 0 < rehearsal_ratio < 1:
        raise ExportError(f"rehearsal ratio must be above 0 and below 1, got {rehearsal_ratio}")
    store.check_tags(filters.tags, error=ExportError)


def _describe(filters: ExportFilters) -> str:
    given = filters.to_dict()
    return (
        " the filters (" + ", ".join(f"{k}={v}" for k, v in given.items()) + ")"
        if given
        else "; review some first (the app, or `curator bulk`)"
    )


def _ordered(manifest: dict) -> dict:
    """Summary keys first and the long per-row lineage last, so the file reads well."""
    return {**{k: v for k, v in manifest.items() if k != "rows"}, "rows": manifest["rows"]}


def dataset_card(name: str, manifest: dict) -> str:
    """The README.md of an export: what each file holds and how it was made. For JSON Lines and
    Parquet its header declares the files, so `load_dataset(DIR, "sft")` works too."""
    counts, pairs, file_format = manifest["counts"], manifest["pairs"], manifest["format"]
    ext = {"jsonl": "jsonl", "parquet": "parquet"}.get(file_format)
    files = manifest["files"]
    header = ["---", "tags: [agent, tool-calling, trl, sft, dpo, kto]"]
    if ext:
        header.append("configs:")
        for kind in KINDS:
            present = [s for s in SPLITS if f"{kind}/{s}.{ext}" in files]
            if present:
                header += [f"- config_name: {kind}", "  data_files:"]
                header += [f"  - split: {s}\n    path: {kind}/{s}.{ext}" for s in present]
    header.append("---")
    where = {
        "jsonl": "`{kind}/train.jsonl`, `{kind}/eval.jsonl`",
        "parquet": "`{kind}/train.parquet`, `{kind}/eval.parquet`",
        "hf": "`{kind}/` (a `datasets.DatasetDict` saved with `save_to_disk`)",
    }[file_format]

    def n(kind):
        return f"{counts[kind]['train']} train / {counts[kind]['eval']} eval rows"

    rehearsal = manifest.get("rehearsal")
    mix = (
        f" It includes {rehearsal['used']} rehearsal rows of general chat from "
        f"`{rehearsal['file']}` ({rehearsal['ratio']:.0%} of the training split), the guard "
        f"against forgetting general skills."
        if rehearsal
        else ""
    )
    salvaged = manifest.get("salvage") or {}
    salvage = (
        f" With prefix salvage: {salvaged['rows']} failed trajectories whose steps before the first "
        f"faulty one train ({salvaged['trained_steps']} steps); each assistant message carries "
        f"`training` (false: context, not learned)."
        if salvaged.get("rows")
        else ""
    )
    filters = manifest["filters"]
    body = f"""
# {name}: reviewed agent trajectories

Training data for a tool-calling agent, exported by Trajectory Curator from human-reviewed
teacher trajectories (store `{manifest["store"]}`, taxonomy v{manifest["taxonomy_version"]}).
Rows are TRL conversational rows: OpenAI chat messages (`role`, `content`, `tool_calls`,
`tool_call_id`, `name`; keys a message does not use are null), with tool-call `arguments` and the
row's `tools` (OpenAI function specs) as JSON strings. Assistant `content` holds the thought
before any tool calls, or the final answer.

| kind | files | rows | what a row is |
|---|---|---|---|
| sft | {where.format(kind="sft")} | {n("sft")} | {ROW_MEANING["sft"]} |
| dpo | {where.format(kind="dpo")} | {n("dpo")} | {ROW_MEANING["dpo"]} |
| kto | {where.format(kind="kto")} | {n("kto")} | {ROW_MEANING["kto"]} |
| prm | {where.format(kind="prm")} | {n("prm")} | {ROW_MEANING["prm"]} |

Every row also has `row_id` (its lineage in `manifest.json`) and `task_key` (its task). A split
with no rows has no file.

## How it was made

- **SFT**: every trajectory whose standing review decision is accept or edit, at its current
  revision, thoughts included.{mix}{salvage}
- **DPO** ({pairs["edit"]} edit, {pairs["same_task"]} same-task, {pairs["compare"]} compare pairs):
  edit pairs prefer a reviewer's rewrite of an assistant turn over the original (prompt: the edited
  conversation before it); same-task pairs prefer an accepted trajectory over a failed one of the
  same task, cut at the first assistant turn where they differ after an identical prefix; compare
  pairs come from A/B judgements the same way (ties and "both bad" give none). A completion is one
  assistant turn and never holds a tool result.
- **KTO**: every failed trajectory, cut before the first faulty step the reviewer marked; that
  step is the undesirable completion.
- **Splits** by task (no task in both): {manifest["tasks"]["eval"]} of
  {manifest["tasks"]["train"] + manifest["tasks"]["eval"]} tasks in `eval` (fraction
  {manifest["eval_fraction"]}, seed {manifest["seed"]}); the same seed and store give the same files.
- **Filters**: {", ".join(f"{k} = {v}" for k, v in filters.items()) or "none"}.
- `manifest.json` lists, per row, the trajectory, revision, decision events and reviewers it
  comes from, and the SHA-256 of every file.
"""
    return "\n".join(header) + "\n" + body
