"""Preference pairs and KTO failures derived from review events (SPEC 5).

Everything here works on turns; `curator.export` renders them as messages. Every cut ends right
before one assistant turn, so a completion is always a single assistant turn (thought and tool
calls, or the final answer) and never holds a tool result: TRL's DPO and KTO score every
completion token.

- Edit pairs: an accepted trajectory whose current revision rewrote assistant turns of the
  original. Turns are aligned by position while their roles agree; each rewritten assistant turn
  gives a pair whose prompt is the *edited* conversation before it (so a corrected tool result
  earlier, which is no pair by itself, is part of the prompt), chosen the edited turn, rejected
  the original one.
- Same-task pairs: an accepted and a failed trajectory of the same task (same task key and the
  same first messages), cut at the first turn where they differ; if that turn is not an assistant
  turn in both (say a tool returned something else), their prefixes differ and there is no pair.
- Compare pairs: A/B decisions, cut the same way. Each reviewer's latest standing verdict on a
  pair of revisions counts; a pair is made only when they all name the same winner (a tie or
  "both bad" from anyone gives none).
- KTO failures: the failed trajectory cut before its first faulty step (the reviewer's), that
  step being the undesirable completion.

Identical pairs (same prompt, chosen, rejected) are written once, under the first source in the
order edit, compare, same_task, with the lineage of all of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import orjson

from curator.model import Task, Turn, canonical_json, short_hash
from curator.selection import ExportFilters, decision_where, selected_sql, trajectory_where
from curator.store import Store

SOURCES = ("edit", "compare", "same_task")
ACCEPTED = ("accepted", "edited")


@dataclass(frozen=True)
class Item:
    """One selected trajectory at its current revision, with the decision that stands on it."""

    traj_id: int
    task_key: str
    task_hash: str
    rev_id: int
    rev_number: int
    turns: tuple[Turn, ...]
    event_id: int | None
    reviewer: str | None
    tags: tuple[str, ...] = ()
    first_step: int | None = None
    taxonomy_version: int | None = None
    edit_event: int | None = None
    editor: str | None = None

    @property
    def events(self) -> tuple[int, ...]:
        return tuple(sorted({e for e in (self.edit_event, self.event_id) if e is not None}))

    @property
    def reviewers(self) -> tuple[str, ...]:
        return tuple(sorted({r for r in (self.editor, self.reviewer) if r}))


@dataclass
class Pair:
    source: str  # edit | compare | same_task
    task_key: str
    task_hash: str
    prompt: tuple[Turn, ...]  # turns before the cut; the task's system and user come first
    chosen: Turn
    rejected: Turn
    step: int  # the cut's assistant-step index (0-based), in the chosen trajectory
    chosen_from: tuple[int, int]  # (traj_id, rev_id)
    rejected_from: tuple[int, int]
    events: list[int] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)

    def key(self) -> str:
        return short_hash([self.task_hash, [turn_key(t) for t in self.prompt],
                           turn_key(self.chosen), turn_key(self.rejected)])


@dataclass(frozen=True)
class Failure:
    """A KTO row: the failed trajectory before its first faulty step, and that step."""

    item: Item
    prompt: tuple[Turn, ...]
    completion: Turn
    step: int


# -- cutting ---------------------------------------------------------------------------------


def turn_key(turn: Turn) -> str:
    """What makes two turns the same for pairing: content without display text or call ids
    (two runs name their calls differently; that is not a difference a model should learn)."""
    d = turn.content_dict()
    d.pop("tool_call_id", None)
    for call in d.get("tool_calls", ()):
        call.pop("id", None)
    return canonical_json(d).decode()


def assistant_positions(turns) -> list[int]:
    """Turn positions of the assistant turns: step k is turns[assistant_positions(turns)[k]]."""
    return [i for i, t in enumerate(turns) if t.role == "assistant"]


def divergence(a, b) -> int | None:
    """Position of the first turn where `a` and `b` differ, if it is an assistant turn in both;
    None when they first differ elsewhere, or one is a prefix of the other."""
    for i, (x, y) in enumerate(zip(a, b)):
        if turn_key(x) != turn_key(y):
            return i if x.role == y.role == "assistant" else None
    return None


def edit_cuts(original, edited) -> list[int]:
    """Positions of the assistant turns an edit rewrote, aligned while the roles agree."""
    cuts = []
    for i, (o, e) in enumerate(zip(original, edited)):
        if o.role != e.role:
            break
        if o.role == "assistant" and turn_key(o) != turn_key(e):
            cuts.append(i)
    return cuts


def failure_cut(item: Item) -> Failure | None:
    """The KTO row of a failed item; None when its first faulty step is not one of its steps."""
    steps = assistant_positions(item.turns)
    step = item.first_step if item.first_step is not None else len(steps) - 1
    if not 0 <= step < len(steps):
        return None
    i = steps[step]
    return Failure(item, item.turns[:i], item.turns[i], step)


def _step_of(turns, position: int) -> int:
    return sum(1 for t in turns[:position] if t.role == "assistant")


def _pair(source, chosen: Item, rejected: Item, events, reviewers) -> Pair | None:
    """A pair cut where two trajectories of one task first differ (sources 2 and 3)."""
    if chosen.task_hash != rejected.task_hash or chosen.task_key != rejected.task_key:
        return None
    i = divergence(chosen.turns, rejected.turns)
    if i is None:
        return None
    return Pair(source, chosen.task_key, chosen.task_hash, chosen.turns[:i], chosen.turns[i],
                rejected.turns[i], _step_of(chosen.turns, i), (chosen.traj_id, chosen.rev_id),
                (rejected.traj_id, rejected.rev_id), sorted(set(events)), sorted(set(reviewers)))


# -- reading the store ---------------------------------------------------------------------------


def load_items(con, filters: ExportFilters, statuses: tuple[str, ...], extra: str = "",
               params: tuple = ()) -> list[Item]:
    """Selected trajectories in `statuses` (and the extra SQL condition), in traj_id order."""
    sql, base = selected_sql(con, filters, statuses)
    rows = con.execute(f"{sql} {extra} ORDER BY t.traj_id", [*base, *params]).fetchall()
    return [_item(*r) for r in rows]


def _item(traj_id, task_key, task_hash, rev_id, rev_number, turns, event_id, reviewer, _at,
          tags, first_step, taxonomy_version, edit_event, editor) -> Item:
    return Item(traj_id, task_key, task_hash, rev_id, rev_number, parse_turns(turns), event_id,
                reviewer, tuple(tags or ()), first_step, taxonomy_version, edit_event, editor)


def parse_turns(turns_json: str) -> tuple[Turn, ...]:
    return tuple(Turn.from_dict(t) for t in orjson.loads(turns_json))


def load_tasks(con, task_hashes) -> dict[str, tuple[Task, str]]:
    """task_hash -> (Task, its tools as the stored canonical JSON string)."""
    rows = con.execute(
        """SELECT task_hash, instruction, system, context, tools, source_task_id FROM tasks
           WHERE list_contains(?, task_hash)""", [sorted(set(task_hashes))]).fetchall()
    return {h: (Task(i, s, c, tuple(orjson.loads(tools)), tid), tools)
            for h, i, s, c, tools, tid in rows}


def edit_pairs(con, items: list[Item]) -> list[Pair]:
    edited = [i for i in items if i.rev_number > 0]
    originals = {t: (r, turns) for t, r, turns in con.execute(
        """SELECT traj_id, rev_id, turns FROM revisions
           WHERE number = 0 AND list_contains(?, traj_id)""",
        [[i.traj_id for i in edited]]).fetchall()} if edited else {}
    pairs = []
    for item in edited:
        rev0, original = originals[item.traj_id]
        original = parse_turns(original)
        for i in edit_cuts(original, item.turns):
            pairs.append(Pair("edit", item.task_key, item.task_hash, item.turns[:i],
                              item.turns[i], original[i], _step_of(item.turns, i),
                              (item.traj_id, item.rev_id), (item.traj_id, rev0),
                              list(item.events), list(item.reviewers)))
    return pairs


def same_task_pairs(accepted: list[Item], failed: list[Item]) -> list[Pair]:
    by_task = defaultdict(list)
    for f in failed:
        by_task[f.task_key].append(f)
    pairs = []
    for a in accepted:
        for f in by_task.get(a.task_key, ()):
            pair = _pair("same_task", a, f, a.events + f.events, a.reviewers + f.reviewers)
            if pair:
                pairs.append(pair)
    return pairs


def compare_pairs(con, filters: ExportFilters) -> list[Pair]:
    t1, p1 = trajectory_where(con, filters, "a")
    t2, p2 = trajectory_where(con, filters, "b")
    d, pd = decision_where(filters, "c.reviewer", "c.at")
    rows = con.execute(f"""
        SELECT c.event_id, c.reviewer, c.verdict, c.traj_id, c.rev_id, c.other_traj_id,
               c.other_rev_id
        FROM decisions c JOIN trajectories a ON a.traj_id = c.traj_id
        JOIN trajectories b ON b.traj_id = c.other_traj_id
        WHERE c.kind = 'compare' AND {t1} AND {t2} AND {d}
        ORDER BY c.event_id""", [*p1, *p2, *pd]).fetchall()
    latest: dict[frozenset, dict[str, tuple]] = defaultdict(dict)
    for event_id, reviewer, verdict, lt, lr, rt, rr in rows:
        left, right = (lt, lr), (rt, rr)
        winner = {"left": (left, right), "right": (right, left)}.get(verdict)
        latest[frozenset((left, right))][reviewer] = (event_id, winner)
    wanted = []
    for votes in latest.values():
        winners = {w for _, w in votes.values()}
        if len(winners) == 1 and None not in winners:
            wanted.append((next(iter(winners)), sorted(e for e, _ in votes.values()),
                           sorted(votes)))
    revs = {r for (chosen, rejected), _, _ in wanted for r in (chosen, rejected)}
    loaded = _load_revisions(con, revs)
    pairs = []
    for (chosen, rejected), events, reviewers in sorted(wanted):
        pair = _pair("compare", loaded[chosen], loaded[rejected], events, reviewers)
        if pair:
            pairs.append(pair)
    return pairs


def _load_revisions(con, revs) -> dict[tuple[int, int], Item]:
    """Items for given (traj_id, rev_id) revisions, whatever their review status."""
    if not revs:
        return {}
    rows = con.execute(
        """SELECT t.traj_id, t.task_key, t.task_hash, r.rev_id, r.number, r.turns
           FROM revisions r JOIN trajectories t USING (traj_id)
           WHERE list_contains(?, r.rev_id)""", [[r for _, r in revs]]).fetchall()
    return {(t, r): Item(t, k, h, r, n, parse_turns(turns), None, None)
            for t, k, h, r, n, turns in rows}


def build_pairs(con, filters: ExportFilters | None = None,
                failed: list[Item] | None = None) -> list[Pair]:
    """Every pair of the selection, deduplicated, in a stable order (edit, compare, same_task;
    then by trajectory). `failed`: the selected failed items, when the caller has them."""
    filters = filters or ExportFilters()
    if failed is None:
        failed = load_items(con, filters, ("failed",))
    keys = sorted({f.task_key for f in failed})
    accepted = load_items(con, filters, ACCEPTED,
                          "AND (r.number > 0 OR list_contains(?, t.task_key))", (keys,))
    by_key: dict[str, Pair] = {}
    for pair in [*edit_pairs(con, accepted), *compare_pairs(con, filters),
                 *same_task_pairs(accepted, failed)]:
        kept = by_key.setdefault(pair.key(), pair)
        if kept is not pair:
            kept.events = sorted({*kept.events, *pair.events})
            kept.reviewers = sorted({*kept.reviewers, *pair.reviewers})
    return list(by_key.values())


def count_by_source(pairs: list[Pair]) -> dict[str, int]:
    return {source: sum(1 for p in pairs if p.source == source)
            for source in ("edit", "same_task", "compare")}


def count_pairs(store: Store) -> dict[str, int]:
    """Pairs an unfiltered export writes (train and eval together), by source: `curator stats`."""
    con = store.con.cursor()  # own snapshot, safe beside the app's threads
    try:
        con.execute("BEGIN TRANSACTION")
        return count_by_source(build_pairs(con))
    finally:
        con.close()
