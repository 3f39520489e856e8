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

import gc
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import orjson

from curator.model import Task, Turn
from curator.selection import ExportFilters, decision_where, selected_sql, trajectory_where
from curator.store import Store

ACCEPTED = ("accepted", "edited")


@dataclass
class Item:
    """One selected trajectory at one revision, with the decision that stands on it.

    `raw` holds the stored turn dicts: comparing them is cheap, and most turns are only ever
    compared, never rendered, so Turn objects are made only for what is written."""

    traj_id: int
    task_key: str
    task_hash: str
    rev_id: int
    rev_number: int
    raw: tuple[dict, ...]
    event_id: int | None = None
    reviewer: str | None = None
    tags: tuple[str, ...] = ()
    first_step: int | None = None
    taxonomy_version: int | None = None
    edit_event: int | None = None
    editor: str | None = None

    def turns(self, end: int | None = None) -> tuple[Turn, ...]:
        """Turn objects of raw[:end] (parsed on each call: callers take what they render)."""
        return tuple(Turn.from_dict(t) for t in self.raw[:end])

    @cached_property
    def events(self) -> tuple[int, ...]:
        return tuple(sorted({e for e in (self.edit_event, self.event_id) if e is not None}))

    @cached_property
    def reviewers(self) -> tuple[str, ...]:
        return tuple(sorted({r for r in (self.editor, self.reviewer) if r}))


@dataclass
class Pair:
    """Preferred `chosen` over `rejected` at turn position `at`, where they first differ (for
    edits: where the reviewer rewrote). Turns are read from the items on use, so building and
    deduplicating many candidate pairs costs no parsing."""

    source: str  # edit | compare | same_task
    chosen_item: Item
    rejected_item: Item
    at: int
    events: list[int] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)

    @property
    def head(self) -> tuple:
        """Equal for pairs of equal content (cheap: texts only; `same_content` decides)."""
        c, r, i = self.chosen_item, self.rejected_item, self.at
        return c.task_hash, i, _text(c.raw[i]), _text(r.raw[i])

    def same_content(self, other: Pair) -> bool:
        """Same prompt, chosen and rejected turn (for pairs of equal `head`)."""
        i = self.at
        return (same_turn(self.rejected_item.raw[i], other.rejected_item.raw[i])
                and all(same_turn(x, y) for x, y in zip(self.chosen_item.raw[:i + 1],
                                                        other.chosen_item.raw[:i + 1])))

    @property
    def task_key(self) -> str:
        return self.chosen_item.task_key

    @property
    def task_hash(self) -> str:
        return self.chosen_item.task_hash

    @property
    def prompt(self) -> tuple[Turn, ...]:
        """The chosen side's turns before the cut (the task's system and user come first)."""
        return self.chosen_item.turns(self.at)

    @property
    def chosen(self) -> Turn:
        return Turn.from_dict(self.chosen_item.raw[self.at])

    @property
    def rejected(self) -> Turn:
        return Turn.from_dict(self.rejected_item.raw[self.at])

    @property
    def step(self) -> int:
        """The cut's assistant-step index (0-based) in the chosen trajectory."""
        return len(assistant_positions(self.chosen_item.raw[:self.at]))

    @property
    def chosen_from(self) -> tuple[int, int]:
        return self.chosen_item.traj_id, self.chosen_item.rev_id

    @property
    def rejected_from(self) -> tuple[int, int]:
        return self.rejected_item.traj_id, self.rejected_item.rev_id


@dataclass(frozen=True)
class Failure:
    """A KTO row: the failed trajectory before its first faulty step (assistant step `step`, turn
    position `at`), and that step."""

    item: Item
    at: int
    step: int

    @property
    def prompt(self) -> tuple[Turn, ...]:
        return self.item.turns(self.at)

    @property
    def completion(self) -> Turn:
        return Turn.from_dict(self.item.raw[self.at])


# -- cutting ---------------------------------------------------------------------------------


def turn_key(turn: Turn | dict) -> tuple:
    """What makes two turns the same for pairing: content without display text or call ids
    (two runs name their calls differently; that is not a difference a model should learn).
    Takes a Turn or its stored dict; the role comes first."""
    d = turn.to_dict() if isinstance(turn, Turn) else turn
    calls = tuple((c["name"], orjson.dumps(c.get("arguments", {}), option=orjson.OPT_SORT_KEYS))
                  for c in d.get("tool_calls") or ())
    return (*_text(d), calls)


def _text(d: dict) -> tuple:
    """The part of `turn_key` that needs no serialising: turns whose texts differ differ."""
    return d["role"], d.get("content") or "", d.get("thought") or "", d.get("name")


def same_turn(x: dict, y: dict) -> bool:
    """Stored turns `x` and `y` are the same for pairing (equal dicts are, without a key)."""
    return x == y or (_text(x) == _text(y) and turn_key(x) == turn_key(y))


def assistant_positions(turns) -> list[int]:
    """Positions of the assistant turns (stored dicts): step k is turn assistant_positions[k]."""
    return [i for i, t in enumerate(turns) if t["role"] == "assistant"]


def divergence(a, b) -> int | None:
    """Position of the first turn where stored turns `a` and `b` differ, if it is an assistant
    turn in both; None when they first differ elsewhere, or one is a prefix of the other."""
    for i, (x, y) in enumerate(zip(a, b)):
        if not same_turn(x, y):
            return i if x["role"] == y["role"] == "assistant" else None
    return None


def edit_cuts(original, edited) -> list[int]:
    """Positions of the assistant turns an edit rewrote (stored turns), aligned while the roles
    agree."""
    cuts = []
    for i, (o, e) in enumerate(zip(original, edited)):
        if o["role"] != e["role"]:
            break
        if o["role"] == "assistant" and not same_turn(o, e):
            cuts.append(i)
    return cuts


def failure_cut(item: Item) -> Failure | None:
    """The KTO row of a failed item; None when its first faulty step is not one of its steps."""
    steps = assistant_positions(item.raw)
    step = item.first_step if item.first_step is not None else len(steps) - 1
    if not 0 <= step < len(steps):
        return None
    return Failure(item, steps[step], step)


def _pair(source, chosen: Item, rejected: Item, events=None, reviewers=None) -> Pair | None:
    """A pair cut where two trajectories of one task first differ (sources 2 and 3). Its events
    and reviewers: those given, else the decisions standing on both items."""
    if chosen.task_hash != rejected.task_hash or chosen.task_key != rejected.task_key:
        return None
    i = divergence(chosen.raw, rejected.raw)
    if i is None:
        return None
    if events is None:
        events = (*chosen.events, *rejected.events)
        reviewers = (*chosen.reviewers, *rejected.reviewers)
    return Pair(source, chosen, rejected, i, sorted(set(events)), sorted(set(reviewers)))


# -- reading the store ---------------------------------------------------------------------------


def load_items(con, filters: ExportFilters, statuses: tuple[str, ...], extra: str = "",
               params: tuple = ()) -> list[Item]:
    """Selected trajectories in `statuses` (and the extra SQL condition), in traj_id order."""
    sql, base = selected_sql(con, filters, statuses)
    rows = con.execute(f"{sql} {extra} ORDER BY t.traj_id", [*base, *params]).fetchall()
    return [_item(*r) for r in rows]


def _item(traj_id, task_key, task_hash, rev_id, rev_number, turns, event_id, reviewer, _at,
          tags, first_step, taxonomy_version, edit_event, editor) -> Item:
    return Item(traj_id, task_key, task_hash, rev_id, rev_number, tuple(orjson.loads(turns)),
                event_id, reviewer, tuple(tags or ()), first_step, taxonomy_version, edit_event,
                editor)


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
        rev0, turns = originals[item.traj_id]
        original = Item(item.traj_id, item.task_key, item.task_hash, rev0, 0,
                        tuple(orjson.loads(turns)))
        for i in edit_cuts(original.raw, item.raw):
            pairs.append(Pair("edit", item, original, i, list(item.events), list(item.reviewers)))
    return pairs


def same_task_pairs(accepted: list[Item], failed: list[Item]) -> list[Pair]:
    by_task = defaultdict(list)
    for f in failed:
        by_task[f.task_key].append(f)
    pairs = []
    for a in accepted:
        for f in by_task.get(a.task_key, ()):
            pair = _pair("same_task", a, f)
            if pair:
                pairs.append(pair)
    return pairs


def compare_pairs(con, filters: ExportFilters) -> list[Pair]:
    t1, p1 = trajectory_where(con, filters, "a")
    t2, p2 = trajectory_where(con, filters, "b")
    d, pd = decision_where(filters, "c.reviewer", "c.created_at")
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
    return {(t, r): Item(t, k, h, r, n, tuple(orjson.loads(turns)))
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
                          "AND (r.number > 0 OR t.task_key IN (SELECT unnest(?)))", (keys,))
    pairs, by_head = [], defaultdict(list)
    for pair in [*edit_pairs(con, accepted), *compare_pairs(con, filters),
                 *same_task_pairs(accepted, failed)]:
        bucket = by_head[pair.head]
        kept = next((k for k in bucket if k.same_content(pair)), None)
        if kept is None:
            bucket.append(pair)
            pairs.append(pair)
        else:
            kept.events = sorted({*kept.events, *pair.events})
            kept.reviewers = sorted({*kept.reviewers, *pair.reviewers})
    return pairs


def count_by_source(pairs: list[Pair]) -> dict[str, int]:
    return {source: sum(1 for p in pairs if p.source == source)
            for source in ("edit", "same_task", "compare")}


def count_pairs(store: Store) -> dict[str, int]:
    """Pairs an unfiltered export writes (train and eval together), by source: `curator stats`."""
    with snapshot(store) as con:
        return count_by_source(build_pairs(con))


@contextmanager
def snapshot(store: Store):
    """A cursor with its own transaction, so one consistent view while the app keeps writing
    (and safe beside its threads); the cyclic garbage collector is paused meanwhile: building
    pairs and rows allocates millions of small acyclic objects that it would rescan again and
    again (half the run time of an export). Reference counting still frees them."""
    con = store.con.cursor()
    enabled = gc.isenabled()
    gc.disable()
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
    finally:
        con.close()
        if enabled:
            gc.enable()
