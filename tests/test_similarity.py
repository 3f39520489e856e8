"""Similarity: embeddings stored incrementally, near-duplicate clusters, review savings."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from conftest import chat_record, write_jsonl

from curator import embedding, similarity
from curator.ingest import import_file
from curator.model import Turn
from curator.queue import QueueFilters, ReviewQueue, progress
from curator.review import decide, edit, load
from curator.store import Store

PARIS = ("Checking the weather.", "get_weather", {"city": "Paris"}, '{"temp": 21}')


def planted(tmp_path):
    """Task `t1` run six ways: three near-duplicates (same call and figures, other thoughts and a
    reworded answer), then three distinct runs of the same instruction: another figure in the
    answer, another argument, one call more. Task `t2` once."""
    records = [
        chat_record("t1", [PARIS], "It is 21 C in Paris today."),
        chat_record("t1", [("Let me look.", *PARIS[1:])], "It is 21 C in Paris today."),
        chat_record("t1", [("Weather first.", *PARIS[1:])], "It is 21 C in Paris today!"),
        chat_record("t1", [PARIS], "It is 25 C in Paris today."),
        chat_record(
            "t1", [("Checking.", "get_weather", {"city": "Lyon"}, "{}")], "It is 21 C in Paris today."
        ),
        chat_record("t1", [PARIS, PARIS], "It is 21 C in Paris today."),
        chat_record("t2", [("Checking.", "get_weather", {"city": "Oslo"}, "{}")], "It is 3 C in Oslo."),
    ]
    return write_jsonl(tmp_path / "planted.jsonl", records)


def test_planted_near_duplicates_found_distinct_runs_kept_apart(db, tmp_path):
    with Store(db) as store:
        import_file(store, str(planted(tmp_path)))
        c = similarity.corpus(store)
        found = similarity.clusters(c, similarity.cluster_labels(c))
    assert [[m["traj_id"] for m in cluster["members"]] for cluster in found] == [[1, 2, 3]]
    assert found[0]["statuses"] == {"pending": 3}
    assert found[0]["tool_sequence"] == "get_weather"


def test_embeddings_stored_once_and_again_for_an_edit(db, tmp_path):
    with Store(db) as store:
        import_file(store, str(planted(tmp_path)))
        assert similarity.embed_missing(store) == {"trajectories": 7, "tasks": 2}
        assert similarity.embed_missing(store) == {"trajectories": 0, "tasks": 0}
        loaded = load(store, 4)
        turns = list(loaded.turns)
        turns[-1] = Turn(role="assistant", content="It is 21 C in Paris today.")
        edit(store, 4, "ana", turns, seen=loaded.seen)
        assert similarity.embed_missing(store) == {"trajectories": 1, "tasks": 0}
        c = similarity.load_corpus(store.con)
        labels = similarity.cluster_labels(c)
        assert labels[c.index[4]] == labels[c.index[1]]  # the fixed answer now repeats run 1
        assert c.statuses[c.index[4]] == "edited"
    Store(db).close()  # reopening keeps the tables (created only if missing)
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT traj_id, tool_sequence, arg_shapes FROM action_embeddings WHERE traj_id = 6 "
    ).fetchall()
    assert rows == [(6, "get_weather > get_weather", "get_weather(city:str) > get_weather(city:str)")]
    assert con.execute("SELECT count(*) FROM instruction_embeddings").fetchone() == (2,)


def test_review_would_skip_pending_near_duplicates_of_decided(db, tmp_path):
    with Store(db) as store:
        import_file(store, str(planted(tmp_path)))
        assert similarity.summary(store)["review_would_save"] == 0
        decide(store, 2, "accept", "ana")
        result = similarity.summary(store)
    assert result["skippable"] == [1, 3]
    assert result["review_would_save"] == 2
    assert result["members"][0]["statuses"] == {"accepted": 1, "pending": 2}


def test_queue_option_skips_exactly_the_near_duplicates_counted(db, tmp_path):
    with Store(db) as store:
        import_file(store, str(planted(tmp_path)))
        similarity.embed_missing(store)
        decide(store, 2, "accept", "ana")
        assert similarity.redundant_pending(store.con) == [1, 3]
        queue, shown = ReviewQueue(), []
        pending = QueueFilters(skip_near_duplicates=True, status="pending")  # skips come back otherwise
        while pick := queue.next(store, "bo", pending, lease_seconds=60):
            shown.append(pick.traj_id)
            decide(store, pick.traj_id, "skip", "bo")
        assert shown == [4, 5, 6, 7]
        # off (the default): the near-duplicates are still there, first as ever
        assert queue.next(store, "bo", QueueFilters(), lease_seconds=60).traj_id == 1


def test_the_option_leaves_out_items_still_to_review_never_decided_ones(db, tmp_path):
    """The progress total drops by exactly the count shown; a skipped near-duplicate is left out
    too (it is still to review); decided items, near-duplicates of each other or not, stay."""
    with Store(db) as store:
        import_file(store, str(planted(tmp_path)))
        assert similarity.unembedded(store.con) == 7
        similarity.embed_missing(store)
        assert similarity.unembedded(store.con) == 0
        decide(store, 1, "accept", "ana")
        decide(store, 2, "accept", "ana")
        decide(store, 3, "skip", "ana")
        assert similarity.redundant_pending(store.con) == [3]
        on, off = QueueFilters(skip_near_duplicates=True), QueueFilters()
        assert progress(store, "bo", off) | {"mine_today": 0} == {
            "done": 2, "skipped": 1, "total": 7, "in_view": 5, "mine_today": 0,
        }  # fmt: skip
        assert progress(store, "bo", on) | {"mine_today": 0} == {
            "done": 2, "skipped": 0, "total": 6, "in_view": 4, "mine_today": 0,
        }  # fmt: skip
        accepted = QueueFilters(skip_near_duplicates=True, status="accepted")
        assert progress(store, "bo", accepted)["in_view"] == 2


def test_signatures_are_exact():
    messages = [
        {"role": "assistant", "content": "x", "tool_calls": [_call("book", '{"seat": 3, "id": "A"}')]},
        {"role": "tool", "content": "ok", "tool_calls": None},
        {"role": "assistant", "content": "Booked seat 3 on AZ1503.", "tool_calls": None},
    ]
    assert similarity.tool_sequence(messages) == "book"
    assert similarity.arg_shapes(messages) == "book(id:str,seat:int)"
    assert (
        similarity.action_text(messages) == 'book({"seat": 3, "id": "A"})\nanswer: Booked seat 3 on AZ1503.'
    )
    other = [*messages[:2], {**messages[2], "content": "Booked seat 3 on AZ1504."}]
    assert similarity.literals(messages) != similarity.literals(other)


def _call(name: str, arguments: str) -> dict:
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.slow
def test_encode_equals_sentence_transformers():
    """The fast path (length-sorted token-budget batches) against the reference library."""
    from sentence_transformers import SentenceTransformer

    texts = ["short", "a much longer text " * 40, "", 'get_weather({"city": "Paris"})', "short"]
    ours = embedding.encode(texts, batch_tokens=300)
    reference = SentenceTransformer(str(embedding.model_dir()), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    np.testing.assert_allclose(ours, reference, atol=1e-5)
