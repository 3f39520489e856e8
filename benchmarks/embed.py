"""Embedding speed: `similarity.embed_missing` against the raw model's encode (target >= 0.8x).

Builds a store of N trajectories synthesized from the sample set (as `benchmarks/import.py` does:
every trajectory's last answer is made unique), then times, in the same run:
  - ours: `embed_missing` on the fresh store: reading revisions, action / answer / instruction
    texts and signatures, encoding, and writing the vectors into the store;
  - baseline: `SentenceTransformer(...).encode` of exactly the texts ours encodes (the same model
    folder from the wheel, normalised, its default batch size), model already loaded;
and prints trajectories/s of each, the ratio, and the time 100k trajectories would take at the
measured rate (an extrapolation: the rate is flat in N, one chunk after another).
Usage: python benchmarks/embed.py [--n 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
from export import synthesize  # benchmarks/export.py: the import benchmark's synthetic data

from curator import embedding, similarity
from curator.ingest import import_file
from curator.store import Store


def texts_ours_encodes(con) -> list[str]:
    """Every distinct text `embed_missing` encodes: instructions of the tasks, then each
    trajectory's action sequence and final answer."""
    instructions = [
        i or "" for (i,) in con.execute("SELECT instruction FROM tasks ORDER BY task_hash").fetchall()
    ]
    actions, answers = [], []
    for (stored,) in con.execute(
        "SELECT r.messages FROM state s JOIN revisions r ON r.rev_id = s.rev_id ORDER BY s.rev_id"
    ).fetchall():
        messages = [orjson.loads(m) for m in stored]
        actions.append(similarity.action_text(messages))
        answers.append(similarity.answer_text(messages))
    return [*dict.fromkeys(instructions), *dict.fromkeys(actions), *dict.fromkeys(answers)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(embedding.model_dir()), device="cpu")
    embedding.encode(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesize(tmp / "bench.jsonl", args.n)
        with Store(tmp / "bench.duckdb") as store:
            import_file(store, str(tmp / "bench.jsonl"))
            texts = texts_ours_encodes(store.con)
            start = time.perf_counter()
            reference.encode(texts, normalize_embeddings=True)
            baseline = time.perf_counter() - start
            start = time.perf_counter()
            done = similarity.embed_missing(store)
            ours = time.perf_counter() - start
    assert done["trajectories"] == args.n
    rate, base_rate = args.n / ours, args.n / baseline
    print(f"trajectories: {args.n}, texts encoded: {len(texts)} (instructions, actions, answers)")
    print(f"ours (embed_missing, stored):          {rate:8.1f} trajectories/s ({ours:.1f} s)")
    print(f"raw model (SentenceTransformer.encode): {base_rate:8.1f} trajectories/s ({baseline:.1f} s)")
    print(f"ratio: {rate / base_rate:.2f}x (target >= 0.8x)")
    print(f"100k trajectories at this rate: {100_000 / rate / 60:.1f} min (extrapolated from {args.n})")


if __name__ == "__main__":
    main()
