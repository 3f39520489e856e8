"""Export speed against DuckDB's `COPY ... TO` of the same rows (SPEC 10: at least half).

Builds a store of N trajectories synthesized from the sample set (as `benchmarks/import.py` does),
decides them by their source labels (`curator bulk`: successes accepted, failures failed), then
times, on one warm store:
  - `export_store` to JSON Lines: selection, pair building, rendering, splits, manifest, hashes;
  - DuckDB `COPY (SELECT ...) TO '...jsonl'` of exactly the rows written (the export's own files
    loaded into DuckDB tables beforehand, untimed), so both sides serialize the same rows;
  - for reference, DuckDB `COPY` of the stored rows of the same trajectories straight from the
    store (task and turns as stored, no rendering).
Prints rows/s of each and the ratios. Usage: python benchmarks/export.py [--n 50000]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

from curator.export import export_store
from curator.ingest import import_file
from curator.review import bulk_by_labels
from curator.store import Store

HERE = Path(__file__).resolve().parent


def synthesize(path: Path, n: int) -> None:
    """The import benchmark's N-trajectory file (one source of truth for the synthetic data)."""
    spec = importlib.util.spec_from_file_location("import_benchmark", HERE / "import.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.synthesize(path, n)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesize(tmp / "bench.jsonl", args.n)
        with Store(tmp / "bench.duckdb") as store:
            import_file(store, str(tmp / "bench.jsonl"))
            bulk_by_labels(store, "bench")
            con = store.con

            result = {}

            def ours():
                result.update(export_store(store, tmp / "out", overwrite=True))

            t_ours = best_of(ours, args.repeat)
            kinds = [
                (k, s)
                for k in ("sft", "dpo", "kto")
                for s in ("train", "eval")
                if (tmp / "out" / k / f"{s}.jsonl").exists()
            ]
            rows = sum(result[k][s] for k, s in kinds)
            for k, s in kinds:
                con.execute(
                    f"CREATE TABLE bench_{k}_{s} AS SELECT * FROM read_json("
                    f"'{tmp / 'out' / k / f'{s}.jsonl'}', format='newline_delimited')"
                )

            def duck_same_rows():
                for k, s in kinds:
                    con.execute(f"COPY bench_{k}_{s} TO '{tmp / f'copy_{k}_{s}.jsonl'}' (FORMAT json)")

            t_copy = best_of(duck_same_rows, args.repeat)
            stored = con.execute("""
                SELECT count(*) FROM state WHERE status IN ('accepted', 'edited', 'failed')
                """).fetchone()[0]

            def duck_stored():
                con.execute(f"""
                    COPY (SELECT t.traj_id, t.task_key, k.system, k.instruction, k.tools, r.turns
                          FROM trajectories t JOIN state s USING (traj_id)
                          JOIN revisions r ON r.rev_id = s.rev_id JOIN tasks k USING (task_hash)
                          WHERE s.status IN ('accepted', 'edited', 'failed'))
                    TO '{tmp / "stored.jsonl"}' (FORMAT json)""")

            t_stored = best_of(duck_stored, args.repeat)
    ours_rate, copy_rate, stored_rate = rows / t_ours, rows / t_copy, stored / t_stored
    print(
        f"store: {args.n} trajectories; export wrote {rows} rows "
        f"(sft {sum(result['sft'].values())}, dpo {sum(result['dpo'].values())}, "
        f"kto {sum(result['kto'].values())})"
    )
    print(f"curator export:              {t_ours:7.3f} s  {ours_rate:10.0f} rows/s")
    print(f"duckdb COPY of the same rows: {t_copy:7.3f} s  {copy_rate:10.0f} rows/s")
    print(
        f"duckdb COPY of stored rows:  {t_stored:7.3f} s  {stored_rate:10.0f} rows/s "
        f"({stored} trajectories, unrendered)"
    )
    print(f"ratio export / COPY same rows: {ours_rate / copy_rate:.2f} (target >= 0.50)")
    print(f"ratio export / COPY stored:    {ours_rate / stored_rate:.2f}")


if __name__ == "__main__":
    main()
