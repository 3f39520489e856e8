"""How alike trajectories are: embeddings, structural signatures, near-duplicate clusters.

Each task's instruction and each revision's action sequence (its tool calls with their arguments,
then its final answer; thoughts left out) get an embedding (`curator.embedding`), and each
revision two exact signatures: its tool-name sequence and its argument shapes (the argument names
and JSON types of every call). They are computed on demand for what has none yet and kept in the
store (`instruction_embeddings`, `action_embeddings`): tasks and revisions are immutable, so a
stored row never goes stale, and an edit (a new revision) simply gets its own.

Two trajectories are near-duplicates when they make the same calls with the same arguments and
state the same figures in their answers (equal `literals`), and both their instructions and their
final answers are at least `threshold` alike (cosine). Embeddings alone cannot tell "77 EUR"
from "94 EUR" (cosine 0.999 in the sample set: one of them is a wrong answer), so the exact part
keeps different behaviour apart; the answers are compared on their own because one shared call
line makes "BK1004 was already cancelled" and "BK1004 is now cancelled" (a wrong answer) look
0.95 alike as whole action sequences. The embeddings merge what differs only in wording. Runs of one
task that act differently are therefore never merged, however alike their instructions.
Clusters are the connected groups of near-duplicate pairs.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson

from curator import embedding
from curator.store import Store

DEFAULT_THRESHOLD = 0.95
CHUNK = 4096  # revisions embedded and committed together
DECIDED = ("accepted", "edited", "failed")

Progress = Callable[[float, str], None]


# -- what is embedded: pure functions of a revision's stored messages -------------------------


def _calls(messages: list[dict]):
    for m in messages:
        if m["role"] == "assistant":
            for call in m["tool_calls"] or ():
                yield call["function"]["name"], call["function"]["arguments"]


def answer_text(messages: list[dict]) -> str:
    """The final answers: assistant text without a tool call."""
    return "\n".join(
        m["content"] for m in messages if m["role"] == "assistant" and not m["tool_calls"] and m["content"]
    )


def action_text(messages: list[dict]) -> str:
    """What a trajectory did, one line per action: `name(arguments JSON)`, then the final answer
    (assistant text without a tool call)."""
    lines = []
    for m in messages:
        if m["role"] != "assistant":
            continue
        calls = m["tool_calls"] or ()
        lines += [f"{c['function']['name']}({c['function']['arguments']})" for c in calls]
        if not calls and m["content"]:
            lines.append(f"answer: {m['content']}")
    return "\n".join(lines)


def tool_sequence(messages: list[dict]) -> str:
    """The tool names called, in order: `search_flights > book_flight`."""
    return " > ".join(name for name, _ in _calls(messages))


def _shape(arguments: str) -> str:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return "text"
    if not isinstance(value, dict):
        return type(value).__name__
    return ",".join(f"{k}:{type(v).__name__}" for k, v in sorted(value.items()))


def arg_shapes(messages: list[dict]) -> str:
    """Each call's name with its argument names and JSON types: `get_weather(city:str,date:str)`."""
    return " > ".join(f"{name}({_shape(arguments)})" for name, arguments in _calls(messages))


_FIGURE = re.compile(r"\w*\d[\w.,:/-]*")  # 77, 62.69, AZ1503, O-5009, 09:15, 2025-07-01


def literals(messages: list[dict]) -> str:
    """A digest of what a trajectory did exactly: every call with its arguments, in order, and
    the figures (tokens holding a digit) of its answers."""
    exact = orjson.dumps([list(_calls(messages)), _FIGURE.findall(answer_text(messages))])
    return hashlib.blake2b(exact, digest_size=12).hexdigest()


# -- computing what is missing -----------------------------------------------------------------


def _missing_revisions(con) -> list[tuple]:
    """(traj_id, rev_id, task_hash, stored messages) of current revisions without embeddings."""
    return con.execute(
        """SELECT s.traj_id, s.rev_id, t.task_hash, r.messages
           FROM state s JOIN trajectories t USING (traj_id) JOIN revisions r ON r.rev_id = s.rev_id
           WHERE NOT EXISTS (SELECT 1 FROM action_embeddings e
                             WHERE e.rev_id = s.rev_id AND e.model = ?)
           ORDER BY s.rev_id""",
        [embedding.MODEL_NAME],
    ).fetchall()


def _encode_unique(texts: list[str]) -> np.ndarray:
    """Vectors of `texts`, each distinct text encoded once (runs of one task often act alike)."""
    unique = list(dict.fromkeys(texts))
    vectors = embedding.encode(unique)
    index = {text: i for i, text in enumerate(unique)}
    return vectors[[index[t] for t in texts]] if texts else vectors


def _vector_column(vectors: np.ndarray):
    import pyarrow as pa

    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, embedding.DIM)


def _insert(con, table: str, columns: dict) -> None:
    import pyarrow as pa

    con.register("new_embeddings", pa.table(columns))
    try:
        con.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM new_embeddings")
    finally:
        con.unregister("new_embeddings")


def _embed_instructions(con, task_hashes: set[str]) -> int:
    have = {
        h
        for (h,) in con.execute(
            "SELECT task_hash FROM instruction_embeddings WHERE model = ? AND list_contains(?, task_hash)",
            [embedding.MODEL_NAME, list(task_hashes)],
        ).fetchall()
    }
    rows = con.execute(
        "SELECT task_hash, instruction FROM tasks WHERE list_contains(?, task_hash) ORDER BY task_hash",
        [sorted(task_hashes - have)],
    ).fetchall()
    if rows:
        vectors = _encode_unique([instruction or "" for _, instruction in rows])
        _insert(
            con,
            "instruction_embeddings",
            {
                "task_hash": [h for h, _ in rows],
                "model": [embedding.MODEL_NAME] * len(rows),
                "vector": _vector_column(vectors),
            },
        )
    return len(rows)


def _embed_chunk(con, rows: list[tuple]) -> int:
    """Embed one chunk of revisions (and their tasks' instructions); returns tasks embedded."""
    messages = [[orjson.loads(m) for m in stored] for _, _, _, stored in rows]
    tasks = _embed_instructions(con, {task_hash for _, _, task_hash, _ in rows})
    _insert(
        con,
        "action_embeddings",
        {
            "rev_id": [rev for _, rev, _, _ in rows],
            "traj_id": [traj for traj, _, _, _ in rows],
            "model": [embedding.MODEL_NAME] * len(rows),
            "tool_sequence": [tool_sequence(m) for m in messages],
            "arg_shapes": [arg_shapes(m) for m in messages],
            "literals": [literals(m) for m in messages],
            "vector": _vector_column(_encode_unique([action_text(m) for m in messages])),
            "answer": _vector_column(_encode_unique([answer_text(m) for m in messages])),
        },
    )
    return tasks


def embed_missing(store: Store, progress: Progress | None = None) -> dict:
    """Embed every current revision (and task) that has no embedding yet, a chunk per
    transaction, so a killed run keeps what it finished. Returns `{"trajectories", "tasks"}`
    embedded now (0 and 0 when everything was there already)."""
    progress = progress or (lambda fraction, message: None)
    rows = _missing_revisions(store.con)
    tasks = 0
    for start in range(0, len(rows), CHUNK):
        progress(start / len(rows), f"embedding trajectories: {start} of {len(rows)}")
        with store.transaction() as con:
            tasks += _embed_chunk(con, rows[start : start + CHUNK])
    progress(1.0, f"embedded {len(rows)} trajectories")
    return {"trajectories": len(rows), "tasks": tasks}


# -- reading them back -------------------------------------------------------------------------


@dataclass
class Corpus:
    """The embedded current revisions of the store, in traj_id order (row i of each field)."""

    traj_ids: np.ndarray
    task_keys: list[str]
    statuses: list[str]
    tool_sequences: list[str]
    arg_shapes: list[str]
    literals: list[str]
    tools_used: list[list[str]]
    instruction: np.ndarray  # (n, DIM) unit vectors
    action: np.ndarray  # (n, DIM) unit vectors
    answer: np.ndarray  # (n, DIM) unit vectors
    index: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {int(t): i for i, t in enumerate(self.traj_ids)}

    def __len__(self) -> int:
        return len(self.traj_ids)

    def vectors(self) -> np.ndarray:
        """Instruction and actions side by side, scaled so that a dot product is their mean
        cosine: one vector per trajectory for distances and the map."""
        return np.hstack([self.instruction, self.action]) / np.sqrt(2)


def _matrix(column) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float32, copy=False).reshape(-1, embedding.DIM)


def load_corpus(con, statuses: tuple[str, ...] | None = None) -> Corpus:
    """The trajectories (in `statuses`, or all) whose current revision is embedded."""
    table = con.sql(
        """SELECT s.traj_id, t.task_key, s.status, a.tool_sequence, a.arg_shapes, a.literals,
                  coalesce(t.tools_used, []) AS tools_used, i.vector AS instruction,
                  a.vector AS action, a.answer
           FROM state s JOIN trajectories t USING (traj_id)
           JOIN action_embeddings a ON a.rev_id = s.rev_id AND a.model = ?
           JOIN instruction_embeddings i ON i.task_hash = t.task_hash AND i.model = ?
           WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], s.status)
           ORDER BY s.traj_id""",
        params=[embedding.MODEL_NAME, embedding.MODEL_NAME, *[list(statuses) if statuses else None] * 2],
    ).to_arrow_table()
    return Corpus(
        traj_ids=table.column("traj_id").to_numpy(),
        task_keys=table.column("task_key").to_pylist(),
        statuses=table.column("status").to_pylist(),
        tool_sequences=table.column("tool_sequence").to_pylist(),
        arg_shapes=table.column("arg_shapes").to_pylist(),
        literals=table.column("literals").to_pylist(),
        tools_used=table.column("tools_used").to_pylist(),
        instruction=_matrix(table.column("instruction")),
        action=_matrix(table.column("action")),
        answer=_matrix(table.column("answer")),
    )


def corpus(store: Store, statuses: tuple[str, ...] | None = None, progress: Progress | None = None) -> Corpus:
    """Embed what is missing, then load: what every caller of this module starts from."""
    embed_missing(store, progress)
    return load_corpus(store.con, statuses)


# -- near-duplicates -----------------------------------------------------------------------------


def near_duplicate_pairs(c: Corpus, threshold: float = DEFAULT_THRESHOLD, rows: int = 1024) -> np.ndarray:
    """Index pairs (i < j) of near-duplicates, shape (k, 2): equal literals, instruction and
    answer cosines both >= threshold. Compared only within equal literals, `rows` at a time."""
    groups = defaultdict(list)
    for i, key in enumerate(c.literals):
        groups[key].append(i)
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members = np.asarray(members)
        instruction, answer = c.instruction[members], c.answer[members]
        for start in range(0, len(members), rows):
            block = slice(start, start + rows)
            alike = np.minimum(instruction[block] @ instruction.T, answer[block] @ answer.T) >= threshold
            i, j = np.nonzero(alike)
            i += start
            keep = i < j
            found.append(np.stack([members[i[keep]], members[j[keep]]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


def cluster_labels(c: Corpus, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Connected components of the near-duplicate pairs: label[i] = the smallest index in i's
    cluster (i itself when it has no near-duplicate)."""
    parent = np.arange(len(c))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in near_duplicate_pairs(c, threshold):
        a, b = root(int(i)), root(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(len(c))], dtype=np.int64)


def clusters(c: Corpus, labels: np.ndarray) -> list[dict]:
    """Near-duplicate clusters (two members or more), largest first: each with its members
    (`traj_id`, `status`, `task_key`), its tool sequence and its members' status counts."""
    groups = defaultdict(list)
    for i, label in enumerate(labels):
        groups[int(label)].append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        statuses = defaultdict(int)
        for i in members:
            statuses[c.statuses[i]] += 1
        out.append(
            {
                "size": len(members),
                "tool_sequence": c.tool_sequences[members[0]],
                "statuses": dict(sorted(statuses.items())),
                "members": [
                    {"traj_id": int(c.traj_ids[i]), "status": c.statuses[i], "task_key": c.task_keys[i]}
                    for i in members
                ],
            }
        )
    out.sort(key=lambda cluster: (-cluster["size"], cluster["members"][0]["traj_id"]))
    for number, cluster in enumerate(out, 1):
        cluster["cluster"] = number
    return out


def near_decided_sql(threshold: float = DEFAULT_THRESHOLD) -> tuple[str, list]:
    """SQL condition (and parameters) on a `state s` row joined with its `trajectories t` row:
    it is still to review (pending or skipped) and its current revision is a near-duplicate of a
    decided trajectory's (the rule of `near_duplicate_pairs`, as SQL over the stored embeddings).
    Used by the review queue's `skip_near_duplicates` option and by `redundant_pending`, so the
    count shown is what the option skips; a decided item is never left out by it (its status
    filters and done count stay as they were). A trajectory without embeddings yet is never a
    near-duplicate here."""
    sql = f"""(NOT list_contains({list(DECIDED)}, s.status) AND EXISTS (
        SELECT 1 FROM action_embeddings a
        JOIN action_embeddings b ON b.literals = a.literals AND b.model = a.model AND b.traj_id <> a.traj_id
        JOIN state d ON d.rev_id = b.rev_id AND list_contains({list(DECIDED)}, d.status)
        JOIN trajectories dt ON dt.traj_id = d.traj_id
        JOIN instruction_embeddings ia ON ia.task_hash = t.task_hash AND ia.model = a.model
        JOIN instruction_embeddings ib ON ib.task_hash = dt.task_hash AND ib.model = a.model
        WHERE a.rev_id = s.rev_id AND a.model = ?
          AND array_cosine_similarity(a.answer, b.answer) >= ?
          AND array_cosine_similarity(ia.vector, ib.vector) >= ?))"""
    return sql, [embedding.MODEL_NAME, threshold, threshold]


def redundant_pending(con, threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """Trajectories still to review (pending or skipped) that are near-duplicates of a decided
    one: what the review queue's `skip_near_duplicates` option skips (reviewing them again
    teaches nothing new)."""
    condition, params = near_decided_sql(threshold)
    return [
        traj_id
        for (traj_id,) in con.execute(
            f"""SELECT s.traj_id FROM state s JOIN trajectories t USING (traj_id)
                WHERE {condition} ORDER BY s.traj_id""",
            params,
        ).fetchall()
    ]


def unembedded(con) -> int:
    """How many current revisions have no embedding yet (what `embed_missing` would embed)."""
    return con.execute(
        """SELECT count(*) FROM state s WHERE NOT EXISTS (
               SELECT 1 FROM action_embeddings e WHERE e.rev_id = s.rev_id AND e.model = ?)""",
        [embedding.MODEL_NAME],
    ).fetchone()[0]


def summary(store: Store, threshold: float = DEFAULT_THRESHOLD, progress: Progress | None = None) -> dict:
    """The `curator similar --json` object: the clusters, how many trajectories they hold, and
    how many pending reviews skipping near-duplicates of decided items would save (and which)."""
    c = corpus(store, progress=progress)
    labels = cluster_labels(c, threshold)
    found = clusters(c, labels)
    skippable = redundant_pending(store.con, threshold)
    return {
        "threshold": threshold,
        "trajectories": len(c),
        "clusters": len(found),
        "in_clusters": sum(cluster["size"] for cluster in found),
        "review_would_save": len(skippable),
        "skippable": skippable,
        "members": found,
    }
