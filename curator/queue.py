"""What a reviewer sees next: the pending queue (its filters, leases, blind second reviews,
progress) and, for the Compare tab, the next pair of trajectories of one task.

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

from curator.errors import CuratorError
from curator.review import acquire_lease
from curator.similarity import near_decided_sql
from curator.store import Store

WINDOW = 256  # ids looked at per probe of the default queue
CANDIDATES = 16  # pending ids fetched per probe; the first one nobody else holds wins
DECIDED = ("accepted", "edited", "failed")
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

    def is_default(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def where(self) -> tuple[str, list]:
        """SQL conditions on `state s JOIN trajectories t` (and parameters)."""
        where, params = [], []
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

        `passed`: second reviews this reviewer skipped in this session (a skip there writes
        nothing: the first reviewer's decision stands) and does not want again.
        """
        share = second_review_share(store)
        if share:
            for traj_id in _second_review_candidates(store, reviewer, filters, share):
                if traj_id not in passed and acquire_lease(store, traj_id, reviewer, lease_seconds):
                    return Pick(traj_id, True)
        for traj_id in self._pending(store, reviewer, filters):
            if acquire_lease(store, traj_id, reviewer, lease_seconds):
                return Pick(traj_id, False)
        return None

    def _pending(self, store: Store, reviewer: str, filters: QueueFilters):
        """Pending ids in order, skipping those another reviewer holds a live lease on."""
        if not filters.is_default():
            where, params = filters.where()
            rows = store.con.execute(
                f"""SELECT s.traj_id FROM state s JOIN trajectories t USING (traj_id)
                    WHERE s.status = 'pending' AND {where}
                      AND s.traj_id NOT IN (SELECT traj_id FROM leases
                                            WHERE reviewer <> ? AND expires_at > now())
                    ORDER BY s.traj_id LIMIT ?""",
                [*params, reviewer, CANDIDATES],
            ).fetchall()
            yield from (r[0] for r in rows)
            return
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
    """Done / total for the current filter, and this reviewer's decisions today."""
    where, params = filters.where()
    join = "" if filters.is_default() else "JOIN trajectories t USING (traj_id)"
    done, total = store.con.execute(
        f"""SELECT count(*) FILTER (WHERE s.status <> 'pending'), count(*)
            FROM state s {join} WHERE {where}""",
        params,
    ).fetchone()
    today = store.scalar(
        "SELECT count(*) FROM decisions WHERE reviewer = ? AND created_at >= current_date", [reviewer]
    )
    return {"done": done, "total": total, "mine_today": today}


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
