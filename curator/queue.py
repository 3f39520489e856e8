"""What a reviewer sees next: the queue (its filters, leases, blind second reviews, progress)
and, for the Compare tab, the next pair of trajectories of one task.

By default the queue gives pending items (lowest id first), then skipped ones (the longest
skipped first): a skip puts an item off, it does not take it out. A status filter walks the items
of one status instead (accepted, edited, failed, skipped or pending; by who decided them and
when), so any decision can be found and made again; decided items come oldest decision first, so
deciding one again moves it to the back.

The default queue must stay fast at a million trajectories (SPEC 10), so it never scans the store:
it looks through a small window of ids above a low-water mark (the smallest id that may still be
pending) with the `state` table's primary key, and only widens the search when that window holds
nothing. The app is the store's only writer while it runs, so it can keep that mark in memory:
decisions only move items out of the queue, and an undo that moves one back lowers the mark.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields
from datetime import datetime

from curator.errors import CuratorError
from curator.review import DECIDED, DECISION_STATUS, acquire_lease
from curator.similarity import near_decided_sql
from curator.store import Store

WINDOW = 256  # ids looked at per probe of the default queue
CANDIDATES = 16  # pending ids fetched per probe; the first one nobody else holds wins
STATUSES = ("pending", *DECISION_STATUS.values())
SECOND_REVIEW_KEY = "app.second_review_share"


class QueueError(CuratorError):
    """A queue setting that cannot be used; one line saying which and why."""


@dataclass(frozen=True)
class QueueFilters:
    """What the reviewer narrowed the queue to; a field left empty restricts nothing."""

    source_file: str | None = None
    source_format: str | None = None
    teacher: str | None = None
    source_label: str | None = None
    check: str | None = None  # an automatic-check flag on the current revision
    tool: str | None = None  # a tool the trajectory calls
    text: str | None = None  # in the instruction or the turns, case-insensitive
    # leave out near-duplicates of decided items (`similarity.near_decided_sql`); off by default
    skip_near_duplicates: bool = False
    status: str | None = None  # one of STATUSES; None: pending, then skipped
    reviewer: str | None = None  # who made the standing decision
    since: datetime | None = None  # the standing decision made at or after this
    until: datetime | None = None  # ... and before this

    def __post_init__(self) -> None:
        if self.status not in (None, *STATUSES):
            raise QueueError(f"unknown status {self.status!r}; use one of {', '.join(STATUSES)}")

    def is_default(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def statuses(self) -> tuple[str, ...]:
        """The statuses the queue walks, in order."""
        return (self.status,) if self.status else ("pending", "skipped")

    def where(self) -> tuple[str, list]:
        """SQL conditions on `state s JOIN trajectories t` (and parameters); the status is
        not one of them (see `statuses`)."""
        where, params = [], []
        for column, op in (("reviewer", "="), ("since", ">="), ("until", "<")):
            if getattr(self, column) is not None:
                where.append(f"s.{'reviewer' if column == 'reviewer' else 'decided_at'} {op} ?")
                params.append(getattr(self, column))
        for column in ("source_file", "source_format", "teacher", "source_label"):
            if getattr(self, column):
                where.append(f"t.{column} = ?")
                params.append(getattr(self, column))
        if self.check:
            where.append("""EXISTS (SELECT 1 FROM checks c WHERE c.traj_id = s.traj_id
                            AND c.rev_id = s.rev_id AND c."check" = ?)""")
            params.append(self.check)
        if self.tool:
            where.append("list_contains(t.tools_used, ?)")
            params.append(self.tool)
        if self.text:
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("""(EXISTS (SELECT 1 FROM tasks k WHERE k.task_hash = t.task_hash
                                     AND k.instruction ILIKE ? ESCAPE '\\')
                             OR EXISTS (SELECT 1 FROM revisions r WHERE r.rev_id = s.rev_id
                                        AND r.turns::VARCHAR ILIKE ? ESCAPE '\\'))""")
            params += [pattern, pattern]
        if self.skip_near_duplicates:
            condition, extra = near_decided_sql()
            where.append(f"NOT {condition}")
            params += extra
        return " AND ".join(where) or "TRUE", params


@dataclass(frozen=True)
class Pick:
    traj_id: int
    second_review: bool  # routed to this reviewer as the blind second opinion


class ReviewQueue:
    """The shared queue of one running app (one instance per store)."""

    def __init__(self) -> None:
        self._low = 0
        self._mutex = threading.Lock()

    def reopen(self, traj_id: int) -> None:
        """An item went back to pending (undo): let the default queue find it again."""
        with self._mutex:
            self._low = min(self._low, traj_id)

    def next(
        self,
        store: Store,
        reviewer: str,
        filters: QueueFilters,
        *,
        lease_seconds: int,
        passed: frozenset[int] = frozenset(),
    ) -> Pick | None:
        """Lease and return the next item for `reviewer`, or None when the queue is empty.

        `passed`: decided items this reviewer skipped in this session (second reviews, items
        walked through a status filter: a skip there writes nothing, the decision stands) and
        does not want again. Second reviews come only with the default statuses.
        """
        share = second_review_share(store) if filters.status is None else 0
        if share:
            for traj_id in _second_review_candidates(store, reviewer, filters, share):
                if traj_id not in passed and acquire_lease(store, traj_id, reviewer, lease_seconds):
                    return Pick(traj_id, True)
        for status in filters.statuses():
            if status == "pending" and filters.is_default():
                candidates = self._pending(store, reviewer)
            else:
                candidates = _with_status(store, reviewer, filters, status, passed)
            for traj_id in candidates:
                if acquire_lease(store, traj_id, reviewer, lease_seconds):
                    return Pick(traj_id, False)
        return None

    def _pending(self, store: Store, reviewer: str):
        """The default queue's pending ids in order, skipping those another reviewer holds a
        live lease on."""
        first = True
        low = self._low
        upper = low + WINDOW - 1
        while True:
            bound = "" if upper is None else "AND s.traj_id <= ?"
            rows = store.con.execute(
                f"""SELECT s.traj_id, l.traj_id IS NOT NULL AS held FROM state s
                    LEFT JOIN leases l ON l.traj_id = s.traj_id AND l.reviewer <> ?
                                      AND l.expires_at > now()
                    WHERE s.traj_id >= ? {bound} AND s.status = 'pending'
                    ORDER BY s.traj_id LIMIT ?""",
                [reviewer, low, *([] if upper is None else [upper]), CANDIDATES],
            ).fetchall()
            if not rows:
                if upper is None:
                    return
                upper = None  # the window was empty: one look at everything above it
                continue
            if first:
                with self._mutex:
                    if self._low == low:
                        self._low = rows[0][0]
                first = False
            free = [traj_id for traj_id, held in rows if not held]
            if free:
                yield from free
                return
            low, upper = rows[-1][0] + 1, rows[-1][0] + WINDOW  # all held by others: look on


def _with_status(store: Store, reviewer: str, filters: QueueFilters, status: str, passed):
    """Ids of `status` that match the filters, not held by another reviewer nor passed by this
    one: pending by id, the others oldest decision first."""
    where, params = filters.where()
    order = "s.traj_id" if status == "pending" else "s.decided_at, s.traj_id"
    rows = store.con.execute(
        f"""SELECT s.traj_id FROM state s JOIN trajectories t USING (traj_id)
            WHERE s.status = ? AND {where} AND NOT list_contains(?::BIGINT[], s.traj_id)
              AND s.traj_id NOT IN (SELECT traj_id FROM leases
                                    WHERE reviewer <> ? AND expires_at > now())
            ORDER BY {order} LIMIT ?""",
        [status, *params, sorted(passed), reviewer, CANDIDATES],
    ).fetchall()
    return [r[0] for r in rows]


def _second_review_candidates(store: Store, reviewer: str, filters: QueueFilters, share: float) -> list[int]:
    """Decided items picked for a blind second opinion that only one reviewer has decided.

    Which items get a second reviewer is a fixed function of the id (a hash), so the share is
    the same for everyone and stable across restarts.
    """
    where, params = filters.where()
    rows = store.con.execute(
        f"""SELECT s.traj_id FROM state s JOIN trajectories t USING (traj_id)
            WHERE list_contains(?, s.status) AND s.reviewer <> ? AND s.reviewer <> 'bulk'
              AND hash(s.traj_id) % 1000 < ? AND {where}
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.traj_id = s.traj_id
                              AND e.reviewer <> s.reviewer
                              AND list_contains(['accept', 'edit', 'fail'], e.kind))
              AND s.traj_id NOT IN (SELECT traj_id FROM leases
                                    WHERE reviewer <> ? AND expires_at > now())
            ORDER BY s.traj_id LIMIT ?""",
        [list(DECIDED), reviewer, int(share * 1000), *params, reviewer, CANDIDATES],
    ).fetchall()
    return [r[0] for r in rows]


def second_review_share(store: Store) -> float:
    value = store.scalar("SELECT value FROM meta WHERE key = ?", [SECOND_REVIEW_KEY])
    return float(value) if value else 0.0


def set_second_review_share(store: Store, share: float) -> None:
    if not 0 <= share <= 1:
        raise QueueError(f"second-review share must be between 0 and 1, got {share}")
    store.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [SECOND_REVIEW_KEY, str(share)])


def progress(store: Store, reviewer: str, filters: QueueFilters) -> dict:
    """Done (accepted, edited or failed: a skip is not done), skipped and total for the current
    filter, the items of its status (`in_view`), and this reviewer's decisions today."""
    where, params = filters.where()
    join = "" if filters.is_default() else "JOIN trajectories t USING (traj_id)"
    done, skipped, total, in_view = store.con.execute(
        f"""SELECT count(*) FILTER (WHERE list_contains(?, s.status)),
                   count(*) FILTER (WHERE s.status = 'skipped'), count(*),
                   count(*) FILTER (WHERE list_contains(?, s.status))
            FROM state s {join} WHERE {where}""",
        [list(DECIDED), list(filters.statuses()), *params],
    ).fetchone()
    today = store.scalar(
        """SELECT count(*) FROM decisions WHERE reviewer = ? AND created_at >= current_date
           AND kind <> 'skip'""",
        [reviewer],
    )
    return {"done": done, "skipped": skipped, "total": total, "in_view": in_view, "mine_today": today}


def filter_choices(store: Store) -> dict[str, list[str]]:
    """The values each queue filter can take in this store (for the dropdowns)."""

    def distinct(sql: str) -> list[str]:
        return [r[0] for r in store.con.execute(sql).fetchall() if r[0] is not None]

    return {
        "source_file": distinct("SELECT DISTINCT source_file FROM trajectories ORDER BY 1"),
        "source_format": distinct("SELECT DISTINCT source_format FROM trajectories ORDER BY 1"),
        "teacher": distinct("SELECT DISTINCT teacher FROM trajectories ORDER BY 1"),
        "source_label": distinct("SELECT DISTINCT source_label FROM trajectories ORDER BY 1"),
        "check": distinct('SELECT DISTINCT "check" FROM checks ORDER BY 1'),
        "tool": distinct("SELECT DISTINCT unnest(tools_used) FROM trajectories ORDER BY 1"),
        "reviewer": distinct("SELECT DISTINCT reviewer FROM state ORDER BY 1"),
    }


def next_pair(
    store: Store, reviewer: str, passed=(), rng: random.Random | None = None
) -> tuple[int, int] | None:
    """The next two trajectories of one task for the Compare tab: (left, right), or None when
    every same-task pair has been judged or passed.

    Pairs this reviewer has not judged yet, lowest ids first; left and right are shuffled so a
    position on screen says nothing about which came first (or which a teacher labelled a
    success). `passed`: pairs this reviewer moved on from in this session.
    """
    passed = {tuple(sorted(p)) for p in passed}
    rows = store.con.execute(
        """SELECT a.traj_id, b.traj_id FROM trajectories a JOIN trajectories b
             ON a.task_key = b.task_key AND a.traj_id < b.traj_id
           WHERE NOT EXISTS (
               SELECT 1 FROM events e WHERE e.kind = 'compare' AND e.reviewer = ?
                 AND least(e.traj_id, e.other_traj_id) = a.traj_id
                 AND greatest(e.traj_id, e.other_traj_id) = b.traj_id)
           ORDER BY a.traj_id, b.traj_id LIMIT ?""",
        [reviewer, len(passed) + 1],
    ).fetchall()
    for pair in rows:
        if pair not in passed:
            return pair if (rng or random).random() < 0.5 else (pair[1], pair[0])
    return None


def compare_progress(store: Store, reviewer: str) -> tuple[int, int]:
    """(pairs of same-task trajectories `reviewer` has judged, pairs there are): 'pair N of M'."""
    return store.con.execute(
        """SELECT (SELECT count(DISTINCT (least(traj_id, other_traj_id), greatest(traj_id, other_traj_id)))
                   FROM events WHERE kind = 'compare' AND reviewer = ?),
                  (SELECT coalesce(sum(n * (n - 1) // 2), 0)
                   FROM (SELECT count(*) AS n FROM trajectories GROUP BY task_key))""",
        [reviewer],
    ).fetchone()
