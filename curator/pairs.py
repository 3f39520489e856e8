"""Preference pairs and KTO failures derived from review events (SPEC 5).

Everything here works on a revision's stored turn keys and messages (`curator.messages`): pairs
are found by comparing keys, and `curator.export` joins the messages. Every cut ends right
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
from dataclasses import dataclass

import orjson

from curator.filters import ExportFilters, decision_where, selected_sql, trajectory_where
from curator.messages import ASSISTANT
from curator.model import Task
from curator.store import Store

ACCEPTED = ("accepted", "edited")


@dataclass(slots=True)
class Reviewed:
    """One selected trajectory at one revision, with the decision that stands on it.

    `keys` are the revision's stored `turn_keys`, one per turn: pairs are found by comparing
    them, and only the messages of the cuts that are written are read (`cut_messages`)."""

    traj_id: int
    task_key: str
    task_hash: str
    rev_id: int
    rev_number: int
    keys: list[str]
    # The edit that made it and the decision on it, and their reviewers: as stored, None where
    # there is none (`lineage` tidies them for the rows written).
    events: tuple = ()
    reviewers: tuple = ()
    tags: tuple[str, ...] = ()
    first_step: int | None = None
    taxonomy_version: int | None = None


@dataclass(slots=True)
class Pair:
    """Preferred `chosen` over `rejected` at turn position `at`, where they first differ (for
    edits: where the reviewer rewrote)."""

    source: str  # edit | compare | same_task
    chosen_item: Reviewed
    rejected_item: Reviewed
    at: int
    events: tuple | list = ()  # `lineage` once the pairs are built
    reviewers: tuple | list = ()

    @property
    def identity(self) -> tuple:
        """Equal for pairs of the same content: task, prompt turns and chosen turn, rejected
        turn (by their keys)."""
        chosen, i = self.chosen_item, self.at
        return chosen.task_hash, tuple(chosen.keys[: i + 1]), self.rejected_item.keys[i]

    @property
    def task_key(self) -> str:
        return self.chosen_item.task_key

    @property
    def task_hash(self) -> str:
        return self.chosen_item.task_hash

    @property
    def cut(self) -> tuple[int, int, int]:
        """What `cut_messages` reads: prompt and chosen turn from the chosen revision, the
        rejected turn from the other."""
        return self.chosen_item.rev_id, self.at, self.rejected_item.rev_id

    @property
    def step(self) -> int:
        """The cut's assistant-step index (0-based) in the chosen trajectory."""
        return len(assistant_positions(self.chosen_item.keys[: self.at]))

    @property
    def chosen_from(self) -> tuple[int, int]:
        return self.chosen_item.traj_id, self.chosen_item.rev_id

    @property
    def rejected_from(self) -> tuple[int, int]:
        return self.rejected_item.traj_id, self.rejected_item.rev_id


@dataclass(frozen=True, slots=True)
class Failure:
    """A KTO row: the failed trajectory before its first faulty step (assistant step `step`, turn
    position `at`), and that step."""

    item: Reviewed
    at: int
    step: int

    @property
    def cut(self) -> tuple[int, int, None]:
        """What `cut_messages` reads: the prompt and the faulty turn."""
        return self.item.rev_id, self.at, None


# -- cutting ---------------------------------------------------------------------------------


def assistant_positions(keys) -> list[int]:
    """Positions of the assistant turns (by turn keys): step k is turn assistant_positions[k]."""
    return [i for i, k in enumerate(keys) if k[0] == ASSISTANT]


def divergence(a, b) -> int | None:
    """Position of the first turn where turn keys `a` and `b` differ, if it is an assistant turn
    in both; None when they first differ elsewhere, or one is a prefix of the other."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i if x[0] == y[0] == ASSISTANT else None
    return None


def edit_cuts(original, edited) -> list[int]:
    """Positions of the assistant turns an edit rewrote (by turn keys), aligned while the roles
    agree."""
    cuts = []
    for i, (o, e) in enumerate(zip(original, edited, strict=False)):
        if o[0] != e[0]:
            break
        if o[0] == ASSISTANT and o != e:
            cuts.append(i)
    return cuts


def failure_cut(item: Reviewed) -> Failure | None:
    """The KTO row of a failed item; None when its first faulty step is not one of its steps."""
    steps = assistant_positions(item.keys)
    step = item.first_step if item.first_step is not None else len(steps) - 1
    if not 0 <= step < len(steps):
        return None
    return Failure(item, steps[step], step)


def _pair(source, chosen: Reviewed, rejected: Reviewed, events=None, reviewers=None) -> Pair | None:
    """A pair cut where two trajectories of one task first differ (sources 2 and 3). Its events
    and reviewers: those given, else the decisions standing on both items."""
    if chosen.task_hash != rejected.task_hash or chosen.task_key != rejected.task_key:
        return None
    i = divergence(chosen.keys, rejected.keys)
    if i is None:
        return None
    if events is None:
        events, reviewers = chosen.events + rejected.events, chosen.reviewers + rejected.reviewers
    return Pair(source, chosen, rejected, i, events, reviewers)


def lineage(values) -> list:
    """Event ids or reviewer names as lineage lists them: sorted, once each, no blanks."""
    return sorted(set(filter(None, values)))


# -- reading the store ---------------------------------------------------------------------------


def load_items(
    con, filters: ExportFilters, statuses: tuple[str, ...], extra: str = "", params: tuple = ()
) -> list[Reviewed]:
    """Selected trajectories in `statuses` (and the extra SQL condition), in traj_id order."""
    sql, base = selected_sql(con, filters, statuses)
    rows = con.execute(
        f"SELECT * EXCLUDE (messages) FROM ({sql} {extra}) ORDER BY traj_id", [*base, *params]
    ).fetchall()
    return [_item(*r) for r in rows]


def _item(
    traj_id,
    task_key,
    task_hash,
    rev_id,
    rev_number,
    keys,
    event_id,
    reviewer,
    tags,
    first_step,
    taxonomy_version,
    edit_event,
    editor,
) -> Reviewed:
    return Reviewed(
        traj_id,
        task_key,
        task_hash,
        rev_id,
        rev_number,
        keys,
        (edit_event, event_id),
        (editor, reviewer),
        tuple(tags or ()),
        first_step,
        taxonomy_version,
    )


def load_tasks(con, task_hashes) -> dict[str, tuple[Task, str]]:
    """task_hash -> (Task, its tools as the stored canonical JSON string)."""
    rows = con.execute(
        """SELECT task_hash, instruction, system, context, tools, source_task_id FROM tasks
           WHERE list_contains(?, task_hash)""",
        [sorted(set(task_hashes))],
    ).fetchall()
    return {h: (Task(i, s, c, tuple(orjson.loads(tools)), tid), tools) for h, i, s, c, tools, tid in rows}


def edit_pairs(con, items: list[Reviewed]) -> list[Pair]:
    edited = [i for i in items if i.rev_number > 0]
    originals = (
        {
            t: (r, keys)
            for t, r, keys in con.execute(
                """SELECT traj_id, rev_id, turn_keys FROM revisions
           WHERE number = 0 AND traj_id IN (SELECT unnest(?))""",
                [[i.traj_id for i in edited]],
            ).fetchall()
        }
        if edited
        else {}
    )
    pairs = []
    for item in edited:
        rev0, keys = originals[item.traj_id]
        original = Reviewed(item.traj_id, item.task_key, item.task_hash, rev0, 0, keys)
        for i in edit_cuts(original.keys, item.keys):
            pairs.append(Pair("edit", item, original, i, item.events, item.reviewers))
    return pairs


def same_task_pairs(accepted: list[Reviewed], failed: list[Reviewed]) -> list[Pair]:
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
    rows = con.execute(
        f"""
        SELECT c.event_id, c.reviewer, c.verdict, c.traj_id, c.rev_id, c.other_traj_id,
               c.other_rev_id
        FROM decisions c JOIN trajectories a ON a.traj_id = c.traj_id
        JOIN trajectories b ON b.traj_id = c.other_traj_id
        WHERE c.kind = 'compare' AND {t1} AND {t2} AND {d}
        ORDER BY c.event_id""",
        [*p1, *p2, *pd],
    ).fetchall()
    latest: dict[frozenset, dict[str, tuple]] = defaultdict(dict)
    for event_id, reviewer, verdict, lt, lr, rt, rr in rows:
        left, right = (lt, lr), (rt, rr)
        winner = {"left": (left, right), "right": (right, left)}.get(verdict)
        latest[frozenset((left, right))][reviewer] = (event_id, winner)
    wanted = []
    for votes in latest.values():
        winners = {w for _, w in votes.values()}
        if len(winners) == 1 and None not in winners:
            wanted.append((next(iter(winners)), sorted(e for e, _ in votes.values()), sorted(votes)))
    revs = {r for (chosen, rejected), _, _ in wanted for r in (chosen, rejected)}
    loaded = _load_revisions(con, revs)
    pairs = []
    for (chosen, rejected), events, reviewers in sorted(wanted):
        pair = _pair("compare", loaded[chosen], loaded[rejected], events, reviewers)
        if pair:
            pairs.append(pair)
    return pairs


def _load_revisions(con, revs) -> dict[tuple[int, int], Reviewed]:
    """Items for given (traj_id, rev_id) revisions, whatever their review status."""
    if not revs:
        return {}
    rows = con.execute(
        """SELECT t.traj_id, t.task_key, t.task_hash, r.rev_id, r.number, r.turn_keys
           FROM revisions r JOIN trajectories t USING (traj_id)
           WHERE r.rev_id IN (SELECT unnest(?))""",
        [[r for _, r in revs]],
    ).fetchall()
    return {(t, r): Reviewed(t, k, h, r, n, keys) for t, k, h, r, n, keys in rows}


def cut_messages(con, cuts: list[tuple[int, int, int | None]]) -> list[tuple[str, str, str]]:
    """The stored messages (JSON texts) of each cut (rev_id, at, other_rev_id), in order: rev_id's
    messages before position `at`, joined with commas as in a JSON array ('' for none); its
    message at `at`; other_rev_id's message at `at` (None without one). DuckDB slices and joins
    them: no turn becomes a Python object."""
    if not cuts:
        return []
    rev, at, other = (list(column) for column in zip(*cuts, strict=True))
    return con.execute(
        """
        SELECT array_to_string(r.messages[1:c.at], ','), r.messages[c.at + 1],
               o.messages[c.at + 1]
        FROM (SELECT unnest(?::BIGINT[]) AS rev, unnest(?::BIGINT[]) AS at,
                     unnest(?::BIGINT[]) AS other, unnest(range(?)) AS i) c
        JOIN revisions r ON r.rev_id = c.rev LEFT JOIN revisions o ON o.rev_id = c.other
        ORDER BY c.i""",
        [rev, at, other, len(cuts)],
    ).fetchall()


def build_pairs(
    con, filters: ExportFilters | None = None, failed: list[Reviewed] | None = None
) -> list[Pair]:
    """Every pair of the selection, deduplicated, in a stable order (edit, compare, same_task;
    then by trajectory), with the lineage of all its duplicates. `failed`: the selected failed
    items, when the caller has them."""
    filters = filters or ExportFilters()
    if failed is None:
        failed = load_items(con, filters, ("failed",))
    keys = sorted({f.task_key for f in failed})
    accepted = load_items(
        con, filters, ACCEPTED, "AND (r.number > 0 OR t.task_key IN (SELECT unnest(?)))", (keys,)
    )
    pairs, first = [], {}
    for pair in [
        *edit_pairs(con, accepted),
        *compare_pairs(con, filters),
        *same_task_pairs(accepted, failed),
    ]:
        kept = first.setdefault(pair.identity, pair)
        if kept is pair:
            pairs.append(pair)
        else:
            kept.events = (*kept.events, *pair.events)
            kept.reviewers = (*kept.reviewers, *pair.reviewers)
    for pair in pairs:
        pair.events, pair.reviewers = lineage(pair.events), lineage(pair.reviewers)
    return pairs


def count_by_source(pairs: list[Pair]) -> dict[str, int]:
    return {
        source: sum(1 for p in pairs if p.source == source) for source in ("edit", "same_task", "compare")
    }


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


# -- what the Compare tab tells the reviewer -----------------------------------------------------


def why_no_pair(chosen_keys, rejected_keys) -> str | None:
    """Why preferring one revision over another of the same task gives no pair (None: it gives
    one): a pair is cut at the first turn where they differ, which must be an assistant turn in
    both."""
    if divergence(chosen_keys, rejected_keys) is not None:
        return None
    if list(chosen_keys) == list(rejected_keys):
        return "the two are the same, turn for turn"
    at = next((i for i, (x, y) in enumerate(zip(chosen_keys, rejected_keys, strict=False)) if x != y), None)
    if at is None:
        return "one stops where the other goes on: there is no assistant turn of both to prefer"
    step = len(assistant_positions(chosen_keys[:at]))
    return (
        f"they first differ after step {step}, in a tool result or a user message, not in what "
        f"the assistant did: the conversations before a preferred step would not be the same"
    )


def compare_outcome(con, left: int, right: int) -> str | None:
    """After a judgement on the current revisions of `left` and `right`: why the export will make
    no pair of them (None when it will), by the rule `compare_pairs` applies."""
    revs = dict(
        con.execute("SELECT traj_id, rev_id FROM state WHERE traj_id IN (?, ?)", [left, right]).fetchall()
    )
    rows = con.execute(
        """SELECT reviewer, verdict, traj_id FROM decisions WHERE kind = 'compare'
             AND ((traj_id = ? AND rev_id = ? AND other_traj_id = ? AND other_rev_id = ?)
               OR (traj_id = ? AND rev_id = ? AND other_traj_id = ? AND other_rev_id = ?))
           ORDER BY event_id""",
        [left, revs[left], right, revs[right], right, revs[right], left, revs[left]],
    ).fetchall()
    winners = {}
    for reviewer, verdict, first in rows:  # the latest verdict of each reviewer counts
        second = right if first == left else left
        winners[reviewer] = {"left": first, "right": second}.get(verdict)
    if None in winners.values():
        return "a tie or 'both bad' prefers neither side"
    if len(set(winners.values())) > 1:
        named = ", ".join(f"{r} prefers #{w}" for r, w in sorted(winners.items()))
        return f"reviewers disagree ({named})"
    if not winners:
        return "no standing judgement of these revisions"
    chosen = next(iter(winners.values()))
    rejected = right if chosen == left else left
    keys = dict(
        con.execute(
            "SELECT traj_id, turn_keys FROM revisions WHERE rev_id IN (?, ?)", [revs[left], revs[right]]
        ).fetchall()
    )
    return why_no_pair(keys[chosen], keys[rejected])
