"""The store and the review rules: schema, deduplication, append-only events, derived state,
undo, stale writes and leases."""

from __future__ import annotations

import duckdb
import pytest

from curator import review
from curator import store as store_module
from curator.ingest import FileSummary, store_items
from curator.messages import rendered
from curator.model import Source, Task, ToolCall, Trajectory, Turn
from curator.review import LeaseHeld, ReviewError, StaleWrite
from curator.store import SCHEMA_VERSION, Store, StoreBusy, StoreError

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
)


def traj(task_id: str, city: str, final: str, label: str | None = None) -> Trajectory:
    turns = (
        Turn(
            "assistant",
            thought=f"Look up {city}.",
            tool_calls=(ToolCall("get_weather", {"city": city}, "c0"),),
        ),
        Turn("tool", content='{"temp": 18}', tool_call_id="c0", name="get_weather"),
        Turn("assistant", content=final),
    )
    return Trajectory(
        Task(f"Weather in {city}?", "Be brief.", tools=TOOLS, source_task_id=task_id),
        turns,
        Source("openai", "mem.jsonl", f"line {city}"),
        source_label=label,
    )


def fill(store: Store, trajectories) -> FileSummary:
    return store_items(store, FileSummary(path="mem.jsonl", format="openai"), trajectories)


@pytest.fixture
def store(db):
    with Store(db) as s:
        fill(
            s,
            [
                traj("t1", "Paris", "18 C", "success"),
                traj("t1", "Paris", "30 C", "failure"),
                traj("t2", "Rome", "20 C", "success"),
            ],
        )
        yield s


def ids(store: Store) -> list[int]:
    return store.column("SELECT traj_id FROM trajectories ORDER BY traj_id")


def test_schema_version_and_views_are_queryable_with_plain_duckdb(db):
    with Store(db) as s:
        fill(s, [traj("t1", "Paris", "18 C")])
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()[0][0] == str(
        SCHEMA_VERSION
    )
    assert con.execute("SELECT status, instruction FROM trajectory_overview").fetchall() == [
        ("pending", "Weather in Paris?")
    ]
    assert con.execute("SELECT count(*) FROM taxonomy WHERE version = 1").fetchall()[0][0] == 12
    con.close()


def test_refuses_a_duckdb_file_that_is_not_a_store(tmp_path):
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE users (id INT)")
    con.close()
    with pytest.raises(StoreError, match="not a curator store"):
        Store(other)


def test_store_held_by_another_process_gives_one_line(held_store, db):
    with pytest.raises(StoreBusy) as err:
        Store(db)
    message = str(err.value)
    assert "\n" not in message and f"PID {held_store.pid}" in message
    assert "curator serve" in message


def test_same_trajectory_twice_is_stored_once_and_same_task_groups(store):
    again = fill(store, [traj("t1", "Paris", "18 C", "success"), traj("t3", "Oslo", "1 C")])
    assert (again.imported, again.duplicates) == (1, 1)
    keys = store.con.execute(
        "SELECT task_key, count(*) FROM trajectories GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()
    assert [n for _, n in keys] == [2, 1, 1]
    # the original turns are revision 0 and every trajectory starts pending
    assert store.scalar("SELECT count(*) FROM revisions WHERE number = 0") == 4
    assert store.scalar("SELECT count(*) FROM state WHERE status = 'pending'") == 4


def test_decisions_are_events_and_state_follows_them(store):
    a, b, c = ids(store)
    review.decide(store, a, "accept", "ann", seen=None)
    e_fail = review.decide(
        store,
        b,
        "fail",
        "ann",
        seen=None,
        tags=["wrong_final_answer"],
        first_step=1,
        note="30 C is wrong",
        seconds=4.5,
    )
    row = store.one(
        "SELECT kind, tags, first_step, note, seconds, taxonomy_version FROM events WHERE event_id = ?",
        [e_fail],
    )
    assert row == ("fail", ["wrong_final_answer"], 1, "30 C is wrong", 4.5, 1)
    assert store.con.execute("SELECT traj_id, status FROM state ORDER BY 1").fetchall() == [
        (a, "accepted"),
        (b, "failed"),
        (c, "pending"),
    ]


def test_failure_needs_known_tags_and_a_step_in_range(store):
    a = ids(store)[0]
    for tags, step, msg in [
        ([], 0, "at least one tag"),
        (["nope"], 0, "unknown failure tag"),
        (["loop"], 2, r"must be 0\.\.1"),
        (["loop"], None, "must be"),
    ]:
        with pytest.raises(ReviewError, match=msg):
            review.decide(store, a, "fail", "ann", seen=None, tags=tags, first_step=step)
    assert store.scalar("SELECT count(*) FROM events") == 0


def test_edit_adds_a_revision_keeps_the_original_and_undo_restores(store):
    a = ids(store)[0]
    original = review.load(store, a)
    turns = list(original.turns)
    turns[-1] = Turn("assistant", content="It is 18 C in Paris.")
    rev, _ = review.edit(store, a, "ann", turns, seen=original.seen)
    edited = review.load(store, a)
    assert (edited.status, edited.rev_id) == ("edited", rev)
    assert edited.turns[-1].content == "It is 18 C in Paris."
    assert review.load(store, a, original.rev_id).turns == original.turns
    review.undo(store, "ann")
    back = review.load(store, a)
    assert (back.status, back.rev_id) == ("pending", original.rev_id)
    assert store.scalar("SELECT count(*) FROM revisions WHERE traj_id = ?", [a]) == 2
    assert store.column("SELECT kind FROM events ORDER BY event_id") == ["edit", "undo"]


def test_undo_takes_back_only_my_own_last_decision(store):
    a, b, _ = ids(store)
    review.decide(store, a, "accept", "ann", seen=None)
    review.decide(store, b, "skip", "bob", seen=None)
    review.undo(store, "ann")
    assert store.con.execute("SELECT status FROM state ORDER BY traj_id").fetchall()[:2] == [
        ("pending",),
        ("skipped",),
    ]
    with pytest.raises(ReviewError, match="no decision to undo"):
        review.undo(store, "ann")


def test_stale_write_is_refused_never_overwrites(store):
    a = ids(store)[0]
    shown_to_bob = review.load(store, a).seen
    review.decide(store, a, "accept", "ann", seen=shown_to_bob)
    with pytest.raises(StaleWrite, match="changed since you opened it"):
        review.decide(store, a, "fail", "bob", seen=shown_to_bob, tags=["other"], first_step=0)
    assert review.load(store, a).status == "accepted"
    assert store.scalar("SELECT count(*) FROM events") == 1


def test_lease_keeps_a_second_reviewer_off(store):
    a = ids(store)[0]
    assert review.acquire_lease(store, a, "ann", seconds=60)
    assert not review.acquire_lease(store, a, "bob", seconds=60)
    with pytest.raises(LeaseHeld, match="being reviewed by ann"):
        review.decide(store, a, "accept", "bob", seen=None)
    review.release_lease(store, a, "ann")
    assert review.acquire_lease(store, a, "bob", seconds=60)


def test_expired_lease_can_be_taken_over(store):
    a = ids(store)[0]
    assert review.acquire_lease(store, a, "ann", seconds=-1)
    assert review.acquire_lease(store, a, "bob", seconds=60)


def test_compare_only_within_a_task_and_with_known_verdicts(store):
    a, b, c = ids(store)
    review.record_comparison(store, a, b, "left", "ann")
    with pytest.raises(ReviewError, match="different tasks"):
        review.record_comparison(store, a, c, "left", "ann")
    with pytest.raises(ReviewError, match="unknown verdict"):
        review.record_comparison(store, a, b, "better", "ann")
    assert store.con.execute("SELECT traj_id, other_traj_id, verdict FROM events").fetchall() == [
        (a, b, "left")
    ]


def test_bulk_uses_source_labels_and_only_touches_pending(store):
    _a, b, c = ids(store)
    review.decide(store, c, "skip", "ann", seen=None)
    assert review.bulk(store, "accept", "bot", source_label="success") == 1
    assert review.bulk(store, "fail", "bot", source_label="failure", tags=["other"]) == 1
    assert store.con.execute("SELECT status FROM state ORDER BY traj_id").fetchall() == [
        ("accepted",),
        ("failed",),
        ("skipped",),
    ]
    # without a known first faulty step, bulk fail blames the last assistant turn
    assert store.one("SELECT tags, first_step FROM events WHERE traj_id = ?", [b]) == (["other"], 1)
    with pytest.raises(ReviewError, match="unknown failure tag"):
        review.bulk(store, "fail", "bot", tags=["nope"])


def test_state_cache_equals_a_rebuild_from_events(store):
    a, b, c = ids(store)
    review.decide(store, a, "accept", "ann", seen=None)
    review.decide(store, b, "fail", "ann", seen=None, tags=["loop"], first_step=0)
    review.decide(store, c, "skip", "ann", seen=None)
    review.decide(store, a, "fail", "bob", seen=review.load(store, a).seen, tags=["loop"], first_step=1)
    review.undo(store, "ann")
    review.decide(store, c, "skip", "bob", seen=review.load(store, c).seen)
    review.bulk(store, "accept", "bot")
    before = store.con.execute("SELECT * FROM state ORDER BY 1").fetchall()
    review.rebuild_state(store)
    assert store.con.execute("SELECT * FROM state ORDER BY 1").fetchall() == before
    # decided_at is the deciding event's time, not the time of the rebuild
    assert (
        store.scalar(
            "SELECT count(*) FROM state s JOIN events e USING (event_id) WHERE s.decided_at <> e.created_at"
        )
        == 0
    )


def test_any_decision_can_be_made_again_and_the_old_one_stays(store):
    a, _b, _c = ids(store)
    review.decide(store, a, "accept", "ann", seen=None)
    # reopened later by id, by someone else: a new event, the accept stays in the history
    review.open_by_id(store, a, "bob")
    with pytest.raises(LeaseHeld, match="being reviewed by bob"):
        review.open_by_id(store, a, "ann")
    seen = review.load(store, a).seen
    review.decide(store, a, "fail", "bob", seen=seen, tags=["wrong_final_answer"], first_step=1)
    assert review.load(store, a).status == "failed"
    assert store.column("SELECT kind FROM events WHERE traj_id = ? ORDER BY event_id", [a]) == [
        "accept",
        "fail",
    ]
    # the decision shown before the re-decision is stale now; a skip never replaces a decision
    with pytest.raises(StaleWrite):
        review.decide(store, a, "accept", "ann", seen=seen)
    with pytest.raises(ReviewError, match="is failed: skip only puts off"):
        review.decide(store, a, "skip", "bob", seen=review.load(store, a).seen)
    with pytest.raises(ReviewError, match="no such trajectory"):
        review.open_by_id(store, 999, "bob")
    assert store.scalar("SELECT count(*) FROM leases WHERE traj_id = 999") == 0
    review.undo(store, "bob")  # back to ann's accept, as the events say
    assert review.load(store, a).status == "accepted"
    latest = review.recent_events(store, limit=2)  # newest first, for the dashboard to reopen
    assert [(e["traj_id"], e["kind"], e["undone"]) for e in latest] == [(a, "undo", False), (a, "fail", True)]


def test_a_version_1_store_is_migrated_on_open_keeping_its_data(db, monkeypatch):
    """Version 3 renders the stored revisions (in batches) exactly as import and edit do."""
    with Store(db) as s:
        fill(s, [traj("t1", "Paris", "18 C"), traj("t2", "Oslo", "rain"), traj("t3", "Rome", "sun")])
        turns = list(review.load(s, 1).turns)
        review.edit(s, 1, "ann", [Turn("assistant", thought="Guess.", content="20 C")], seen=None)
        written = s.con.execute(
            "SELECT rev_id, turns, messages, turn_keys FROM revisions ORDER BY rev_id"
        ).fetchall()
        s.con.execute("DROP TABLE runs")
        s.con.execute("DROP SEQUENCE run_ids")
        s.con.execute("ALTER TABLE revisions DROP COLUMN messages")
        s.con.execute("ALTER TABLE revisions DROP COLUMN turn_keys")
        s.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    monkeypatch.setattr(store_module, "MIGRATION_BATCH", 2)
    with Store(db) as s:
        assert s.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
        assert s.scalar("SELECT count(*) FROM runs") == 0
        assert (
            s.con.execute(
                "SELECT rev_id, turns, messages, turn_keys FROM revisions ORDER BY rev_id"
            ).fetchall()
            == written
        )
    assert len(written) == 4 and written[0][2][0] != written[3][2][0]
    messages, keys = rendered([t.to_dict() for t in turns])
    assert written[0][2:] == ([m.decode() for m in messages], keys)


def test_a_store_from_a_newer_curator_is_refused(db):
    with Store(db) as s:
        s.con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this curator"):
        Store(db)


def test_bulk_file_pattern_selects_by_source_file(store):
    assert review.bulk(store, "accept", "bot", file_pattern="other*.jsonl") == 0
    assert review.bulk(store, "accept", "bot", file_pattern="mem.*") == 3
