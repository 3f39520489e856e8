"""The Data tab's pure helpers and its view over a real store, without a browser."""

from __future__ import annotations

import re

import numpy as np
from conftest import chat_record, write_jsonl

from curator.app.data import map_html, pca_2d, view
from curator.app.workbench import Workbench
from curator.ingest import import_file
from curator.review import bulk
from curator.similarity import load_corpus
from curator.store import Store


def test_pca_is_deterministic_and_centred():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)) * [5, 3, 1, 1, 1, 1, 1, 1]
    points = pca_2d(vectors)
    assert points.shape == (50, 2)
    np.testing.assert_allclose(points, pca_2d(vectors.copy()))
    np.testing.assert_allclose(points.mean(axis=0), 0, atol=1e-9)
    assert points[:, 0].var() > points[:, 1].var()
    assert pca_2d(vectors[:1]).shape == (1, 2)


def test_view_shows_map_clusters_and_coverage(db, tmp_path):
    step = ("Look.", "get_weather", {"city": "Paris"}, "{}")
    records = [chat_record("w-01", [step], "It is 20 C.", "success")]
    records += [chat_record("w-01", [("Checking.", *step[1:])], "It is 20 C.", "success")]
    records += [chat_record(f"w-0{i}", [step], "Rain.", "failure") for i in (2, 3)]
    with Store(db) as store:
        import_file(store, str(write_jsonl(tmp_path / "set.jsonl", records)))
        bulk(store, "accept", "ana", source_label="success")
        bulk(store, "fail", "ana", source_label="failure", tags=["wrong_final_answer"])
        bench = Workbench(store)
        summary, world, clusters, families, tools, sequences = view(bench, "failure tag", 0.95)
        c = load_corpus(store.con)
    assert "1 near-duplicate clusters hold 2 of 4" in summary
    assert sorted(map(int, re.findall(r'data-traj="(\d+)"', world))) == [1, 2, 3, 4]
    assert "wrong_final_answer" in world and "(no failure tag)" in world
    assert clusters.to_dict("records")[0]["trajectories"] == "1 2"
    assert families.to_dict("records") == [
        {"task family": "w", "trajectories": 4, "accepted": 2, "failed": 2, "pending": 0}
    ]
    assert tools["tool"].tolist() == ["get_weather"] and sequences["trajectories"].tolist() == [4]
    assert len(re.findall("<circle", map_html(c, "status", {}, limit=3))) == 3
