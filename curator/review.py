"""Review decisions as append-only events, and the state derived from them (SPEC 4).

Every decision (accept, edit, fail, skip, undo, compare) is one row in `events`; nothing is updated
or deleted there. `derive_state` is the one rule that turns a trajectory's events into its status
and current revision; `state` caches its result in the same transaction as each event.

Any item can be decided again (opened by id, or found through the queue's status filter): the new
decision is one more event and the old one stays in the history. A skip only puts off an item that
waits for a decision; it never replaces an accept, edit or fail.

Concurrency: a decision carries `seen`, the state's event id when the item was shown. If the state
moved on since (another reviewer decided, an edit made a new revision) the write is refused with
`StaleWrite`; an item leased to someone else is refused with `LeaseHeld`. Neither ever overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from curator.checks import run_checks
from curator.filters import ExportFilters, trajectory_where
from curator.messages import rendered
from curator.model import Task, Turn
from curator.store import Store, StoreError

DECISION_STATUS = {"accept": "accepted", "edit": "edited", "fail": "failed", "skip": "skipped"}
DECIDED = ("accepted", "edited", "failed")  # done; pending and skipped items still wait for one
VERDICTS = ("left", "right", "tie", "both_bad")
DEFAULT_LEASE_SECONDS = 300


class ReviewError(StoreError):
    """A decision that cannot be recorded as asked; one line saying why."""


class StaleWrite(ReviewError):
    pass


class LeaseHeld(ReviewError):
    pass


@dataclass(frozen=True)
class Loaded:
    traj_id: int
    task: Task
    turns: tuple[Turn, ...]
    rev_id: int
    status: str
    seen: int | None  # the state's event id: pass it back with the decision
    meta: dict
    info: dict  # source format, file, record, teacher, label, reward; the revision's number
    flags: list  # automatic-check flags of this revision: {"check", "step", "message"}


# -- reading -------------------------------------------------------------------------------


def load(store: Store, traj_id: int, rev_id: int | None = None) -> Loaded:
    """A trajectory at its current revision (or `rev_id`), with its state and check flags.

    This is on the path of every item a reviewer opens: two queries whose filters are constants,
    so DuckDB answers them from the primary-key indexes instead of joining whole tables."""
    row = store.one(
        """SELECT k.instruction, k.system, k.context, k.tools, k.source_task_id, t.meta,
                  s.status, s.event_id, s.rev_id, t.source_format, t.source_file,
                  t.source_record, t.teacher, t.source_label, t.source_reward
           FROM trajectories t JOIN tasks k USING (task_hash) JOIN state s USING (traj_id)
           WHERE t.traj_id = ?""",
        [traj_id],
    )
    if row is None:
        raise ReviewError(f"trajectory {traj_id}: no such trajectory")
    instruction, system, context, tools, task_id, meta, status, seen, current = row[:9]
    rev_id = rev_id or current
    revision = store.one(
        """SELECT r.turns, r.number,
                  (SELECT list({'check': c."check", 'step': c.step, 'message': c.message}
                               ORDER BY c.step NULLS FIRST, c."check")
                   FROM checks c WHERE c.traj_id = ? AND c.rev_id = ?)
           FROM revisions r WHERE r.rev_id = ? AND r.traj_id = ?""",
        [traj_id, rev_id, rev_id, traj_id],
    )
    if revision is None:
        raise ReviewError(f"trajectory {traj_id}: no revision {rev_id}")
    turns, number, flags = revision
    task = Task(
        instruction=instruction,
        system=system,
        context=context,
        tools=tuple(orjson.loads(tools)),
        source_task_id=task_id,
    )
    info = dict(
        zip(("format", "file", "record", "teacher", "label", "reward"), row[9:15], strict=True),
        revision=number,
    )
    return Loaded(
        traj_id,
        task,
        tuple(Turn.from_dict(t) for t in orjson.loads(turns)),
        rev_id,
        status,
        seen,
        orjson.loads(meta) if meta else {},
        info,
        flags or [],
    )


def derive_state(events: list[dict], original_rev: int) -> tuple[str, int, int | None]:
    """(status, current revision, deciding event) from one trajectory's events in order."""
    undone = {e["undoes"] for e in events if e["kind"] == "undo"}
    status, rev, deciding = "pending", original_rev, None
    for e in events:
        if e["kind"] not in DECISION_STATUS or e["event_id"] in undone:
            continue
        status, deciding = DECISION_STATUS[e["kind"]], e["event_id"]
        if e["kind"] == "edit":
            rev = e["rev_id"]
    return status, rev, deciding


def original_revision(store: Store, traj_id: int) -> int:
    """The revision id of the imported original (number 0), which a blind second review shows."""
    return store.scalar("SELECT rev_id FROM revisions WHERE traj_id = ? AND number = 0", [traj_id])


def revision_number(store: Store, rev_id: int) -> int:
    """A revision's number within its trajectory (0 = the original)."""
    return store.scalar("SELECT number FROM revisions WHERE rev_id = ?", [rev_id])


def event_trajectory(store: Store, event_id: int) -> int:
    """The trajectory an event (an undo, say) was recorded on."""
    return store.scalar("SELECT traj_id FROM events WHERE event_id = ?", [event_id])


def timeline(store: Store, traj_id: int) -> list[dict]:
    """Every event on a trajectory, oldest first, including compares it took part in."""
    return _events(store, "e.traj_id = ? OR e.other_traj_id = ?", [traj_id, traj_id], "e.event_id")


def recent_events(store: Store, limit: int = 20) -> list[dict]:
    """The latest events in the store, newest first (the dashboard lists them to reopen)."""
    return _events(store, "TRUE", [], f"e.event_id DESC LIMIT {int(limit)}")


def _events(store: Store, where: str, params: list, order: str) -> list[dict]:
    return store.records(
        f"""SELECT e.event_id, e.traj_id, strftime(e.created_at, '%Y-%m-%d %H:%M:%S') AS at,
                  e.reviewer, e.kind, e.tags, e.first_step, e.note, e.seconds, e.undoes,
                  e.other_traj_id, e.verdict, e.rev_id,
                  EXISTS (SELECT 1 FROM events u WHERE u.kind = 'undo'
                          AND u.undoes = e.event_id) AS undone
           FROM events e WHERE {where} ORDER BY {order}""",
        params,
    )


# -- writing -------------------------------------------------------------------------------


def decide(
    store: Store,
    traj_id: int,
    kind: str,
    reviewer: str,
    *,
    seen: int | None = None,
    check_seen: bool = True,
    tags: list[str] | tuple = (),
    first_step: int | None = None,
    note: str | None = None,
    seconds: float | None = None,
) -> int:
    """Record accept / fail / skip on the current revision; returns the event id."""
    if kind not in ("accept", "fail", "skip"):
        raise ReviewError(f"unknown decision {kind!r}; use accept, fail, skip (or edit, undo)")
    with store.transaction():
        current = _guard(store, traj_id, reviewer, seen, check_seen)
        if kind == "skip" and current["status"] in DECIDED:
            raise ReviewError(
                f"trajectory {traj_id} is {current['status']}: skip only puts off an undecided item; "
                f"decide it again or move on"
            )
        version = current["taxonomy_version"]
        if kind == "fail":
            _check_failure(store, traj_id, current["rev_id"], tags, first_step, version)
        event_id = _append(
            store,
            traj_id,
            current["rev_id"],
            reviewer,
            kind,
            tags=list(tags),
            first_step=first_step,
            note=note,
            seconds=seconds,
            taxonomy_version=version,
        )
        _set_state(store, traj_id, DECISION_STATUS[kind], current["rev_id"], event_id, reviewer)
        release_lease(store, traj_id, reviewer)  # the decision ends this reviewer's hold
    return event_id


def edit(
    store: Store,
    traj_id: int,
    reviewer: str,
    turns: list[Turn],
    *,
    seen: int | None,
    check_seen: bool = True,
    note: str | None = None,
    seconds: float | None = None,
) -> tuple[int, int]:
    """Save edited turns as a new revision (the original stays) and accept it."""
    if not any(t.role == "assistant" for t in turns):
        raise ReviewError(f"trajectory {traj_id}: an edit must keep at least one assistant turn")
    with store.transaction():
        current = _guard(store, traj_id, reviewer, seen, check_seen)
        number = store.scalar("SELECT max(number) + 1 FROM revisions WHERE traj_id = ?", [traj_id])
        rev_id = store.scalar("SELECT nextval('rev_ids')")
        dicts = [t.to_dict() for t in turns]
        messages, keys = rendered(dicts)
        store.con.execute(
            "INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, now(), ?, ?)",
            [
                rev_id,
                traj_id,
                number,
                current["rev_id"],
                orjson.dumps(dicts).decode(),
                reviewer,
                [m.decode() for m in messages],
                keys,
            ],
        )
        task = load_task(store, traj_id)
        flags = [(traj_id, rev_id, f.check, f.step, f.message) for f in run_checks(task, turns)]
        if flags:  # checks run after every edit, like at import
            store.con.executemany("INSERT INTO checks VALUES (?, ?, ?, ?, ?)", flags)
        event_id = _append(
            store,
            traj_id,
            rev_id,
            reviewer,
            "edit",
            note=note,
            seconds=seconds,
            taxonomy_version=current["taxonomy_version"],
        )
        _set_state(store, traj_id, "edited", rev_id, event_id, reviewer)
        release_lease(store, traj_id, reviewer)
    return rev_id, event_id


def undo(store: Store, reviewer: str) -> int:
    """Undo this reviewer's last decision that still stands; returns the undo event id."""
    with store.transaction():
        row = store.one(
            """SELECT event_id, traj_id FROM decisions WHERE reviewer = ?
               ORDER BY event_id DESC LIMIT 1""",
            [reviewer],
        )
        if row is None:
            raise ReviewError(f"reviewer {reviewer!r} has no decision to undo")
        target, traj_id = row
        event_id = _append(store, traj_id, None, reviewer, "undo", undoes=target)
        _rederive(store, traj_id)
    return event_id


def record_comparison(
    store: Store,
    left: int,
    right: int,
    verdict: str,
    reviewer: str,
    *,
    seconds: float | None = None,
    note: str | None = None,
) -> int:
    """An A/B judgement of two trajectories of the same task, on their current revisions."""
    if verdict not in VERDICTS:
        raise ReviewError(f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}")
    if left == right:
        raise ReviewError("compare needs two different trajectories")
    with store.transaction():
        rows = dict(
            store.con.execute(
                """SELECT t.traj_id, t.task_key FROM trajectories t WHERE traj_id IN (?, ?)""", [left, right]
            ).fetchall()
        )
        for t in (left, right):
            if t not in rows:
                raise ReviewError(f"trajectory {t}: no such trajectory")
        if rows[left] != rows[right]:
            raise ReviewError(f"trajectories {left} and {right} are of different tasks")
        revs = dict(
            store.con.execute(
                "SELECT traj_id, rev_id FROM state WHERE traj_id IN (?, ?)", [left, right]
            ).fetchall()
        )
        return _append(
            store,
            left,
            revs[left],
            reviewer,
            "compare",
            other_traj_id=right,
            other_rev_id=revs[right],
            verdict=verdict,
            note=note,
            seconds=seconds,
        )


def bulk(
    store: Store,
    kind: str,
    reviewer: str,
    *,
    source_label: str | None = None,
    source_format: str | None = None,
    file_pattern: str | None = None,
    tags: list[str] | tuple = (),
    task_keys: list[str] | None = None,
) -> int:
    """Decide every pending trajectory that matches, in one transaction (e.g. trust a source's
    own success labels). `fail` takes the source's own first faulty step and tags where the
    record carries them, else the last assistant turn and `tags` (default `other`)."""
    if kind not in ("accept", "fail"):
        raise ReviewError(f"bulk decides accept or fail, not {kind!r}")
    version = store.taxonomy_version()
    store.check_tags(tags, version, error=ReviewError)
    chosen = ExportFilters(
        source_file=file_pattern,
        source_format=source_format,
        source_label=source_label,
        task_keys=None if task_keys is None else tuple(task_keys),
    )
    t_sql, params = trajectory_where(store.con, chosen)
    given = list(tags) or None
    with store.transaction() as con:
        start = store.scalar("SELECT coalesce(max(event_id), 0) FROM events")
        con.execute(
            f"""
            INSERT INTO events (event_id, traj_id, rev_id, reviewer, created_at, kind, tags, first_step,
                                note, taxonomy_version)
            SELECT nextval('event_ids'), t.traj_id, s.rev_id, ?, now(), ?,
                   CASE WHEN ? = 'fail' THEN coalesce(?::VARCHAR[],
                        json_extract_string(t.meta, '$.failure.tags[*]'), ['other']) END,
                   CASE WHEN ? = 'fail' THEN coalesce(
                        TRY_CAST(json_extract(t.meta, '$.failure.first_step') AS INTEGER),
                        t.n_steps - 1) END,
                   'bulk', ?
            FROM trajectories t JOIN state s USING (traj_id)
            WHERE s.status = 'pending' AND {t_sql} ORDER BY t.traj_id""",
            [reviewer, kind, kind, given, kind, version, *params],
        )
        con.execute(
            """
            UPDATE state SET status = ?, event_id = e.event_id, reviewer = e.reviewer,
                             decided_at = e.created_at
            FROM events e WHERE e.traj_id = state.traj_id AND e.event_id > ?""",
            [DECISION_STATUS[kind], start],
        )
        return store.scalar("SELECT count(*) FROM events WHERE event_id > ?", [start])


def bulk_by_labels(store: Store, reviewer: str, *, task_keys: list[str] | None = None) -> dict[str, int]:
    """Trust a source's own labels: accept its successes and fail its failures, as `curator bulk accept
    --source-label success` then `bulk fail --source-label failure` do; how many of each were decided."""
    return {
        status: bulk(store, kind, reviewer, source_label=label, task_keys=task_keys)
        for status, kind, label in (("accepted", "accept", "success"), ("failed", "fail", "failure"))
    }


def rebuild_state(store: Store) -> int:
    """Recompute every trajectory's state from its events (the events are the truth)."""
    with store.transaction():
        ids = store.column("SELECT traj_id FROM trajectories")
        for traj_id in ids:
            _rederive(store, traj_id)
    return len(ids)


# -- leases --------------------------------------------------------------------------------


def acquire_lease(store: Store, traj_id: int, reviewer: str, seconds: int = DEFAULT_LEASE_SECONDS) -> bool:
    """Hold an item for `seconds`; False if another reviewer holds a live lease on it.
    One statement, so it is atomic without a transaction of its own (it is on the hot path)."""
    taken = store.one(
        """INSERT OR REPLACE INTO leases
           SELECT ?, ?, now()::TIMESTAMP + to_seconds(?::DOUBLE)
           WHERE NOT EXISTS (SELECT 1 FROM leases WHERE traj_id = ? AND reviewer <> ?
                             AND expires_at > now())
           RETURNING traj_id""",
        [traj_id, reviewer, seconds, traj_id, reviewer],
    )
    return taken is not None


def open_by_id(store: Store, traj_id: int, reviewer: str, seconds: int = DEFAULT_LEASE_SECONDS) -> None:
    """Hold one trajectory chosen by id, whatever its status, to look at it or decide it again."""
    row = store.one(
        """SELECT (SELECT reviewer FROM leases l WHERE l.traj_id = s.traj_id AND l.reviewer <> ?
                   AND l.expires_at > now()) FROM state s WHERE s.traj_id = ?""",
        [reviewer, traj_id],
    )
    if row is None:
        raise ReviewError(f"trajectory {traj_id}: no such trajectory")
    if row[0] is not None or not acquire_lease(store, traj_id, reviewer, seconds):
        raise LeaseHeld(f"trajectory {traj_id} is being reviewed by {row[0] or 'someone else'}")


def release_lease(store: Store, traj_id: int, reviewer: str) -> None:
    store.con.execute("DELETE FROM leases WHERE traj_id = ? AND reviewer = ?", [traj_id, reviewer])


# -- helpers -------------------------------------------------------------------------------


def load_task(store: Store, traj_id: int) -> Task:
    instruction, system, context, tools, task_id = store.one(
        """SELECT instruction, system, context, tools, source_task_id
           FROM trajectories JOIN tasks USING (task_hash) WHERE traj_id = ?""",
        [traj_id],
    )
    return Task(instruction, system, context, tuple(orjson.loads(tools)), task_id)


def _guard(store: Store, traj_id: int, reviewer: str, seen: int | None, check_seen: bool) -> dict:
    if not reviewer:
        raise ReviewError("a decision needs a reviewer name")
    row = store.one(
        """SELECT s.status, s.rev_id, s.event_id,
                  (SELECT reviewer FROM leases l WHERE l.traj_id = ? AND l.expires_at > now()),
                  (SELECT max(version) FROM taxonomy)
           FROM state s WHERE s.traj_id = ?""",
        [traj_id, traj_id],
    )
    if row is None:
        raise ReviewError(f"trajectory {traj_id}: no such trajectory")
    status, rev_id, event_id, holder, version = row
    if holder not in (None, reviewer):
        raise LeaseHeld(f"trajectory {traj_id} is being reviewed by {holder}; your decision was not saved")
    if check_seen and event_id != seen:
        raise StaleWrite(
            f"trajectory {traj_id} changed since you opened it (now {status}); "
            f"reload it: your decision was not saved"
        )
    return {"status": status, "rev_id": rev_id, "event_id": event_id, "taxonomy_version": version}


def _check_failure(store: Store, traj_id: int, rev_id: int, tags, first_step, version: int):
    if not tags:
        raise ReviewError(f"trajectory {traj_id}: a failure needs at least one tag")
    store.check_tags(tags, version, error=ReviewError, where=f"trajectory {traj_id}: ")
    steps = store.scalar(
        """SELECT count(*) FROM (SELECT unnest(turns::JSON[]) AS t FROM revisions
           WHERE rev_id = ?) WHERE t->>'role' = 'assistant'""",
        [rev_id],
    )
    if first_step is None or not 0 <= first_step < steps:
        raise ReviewError(f"trajectory {traj_id}: first faulty step must be 0..{steps - 1}, got {first_step}")


def _append(
    store: Store,
    traj_id,
    rev_id,
    reviewer,
    kind,
    *,
    tags=None,
    first_step=None,
    note=None,
    seconds=None,
    taxonomy_version=None,
    undoes=None,
    other_traj_id=None,
    other_rev_id=None,
    verdict=None,
) -> int:
    return store.one(
        """INSERT INTO events VALUES (nextval('event_ids'), ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?,
                                      ?, ?, ?) RETURNING event_id""",
        [
            traj_id,
            rev_id,
            reviewer,
            kind,
            tags,
            first_step,
            note,
            seconds,
            taxonomy_version,
            undoes,
            other_traj_id,
            other_rev_id,
            verdict,
        ],
    )[0]


def _set_state(store: Store, traj_id, status, rev_id, event_id, reviewer) -> None:
    """The state row; `decided_at` is the deciding event's time, so a rebuild gives it back."""
    store.con.execute(
        """UPDATE state SET status = ?, rev_id = ?, event_id = ?, reviewer = ?,
                            decided_at = (SELECT created_at FROM events WHERE event_id = ?)
           WHERE traj_id = ?""",
        [status, rev_id, event_id, reviewer, event_id, traj_id],
    )


def _rederive(store: Store, traj_id: int) -> None:
    rows = store.con.execute(
        "SELECT event_id, kind, rev_id, undoes, reviewer FROM events WHERE traj_id = ? ORDER BY event_id",
        [traj_id],
    ).fetchall()
    events = [dict(zip(("event_id", "kind", "rev_id", "undoes", "reviewer"), r, strict=True)) for r in rows]
    original = store.scalar("SELECT rev_id FROM revisions WHERE traj_id = ? AND number = 0", [traj_id])
    status, rev, deciding = derive_state(events, original)
    who = next((e["reviewer"] for e in events if e["event_id"] == deciding), None)
    _set_state(store, traj_id, status, rev, deciding, who)
