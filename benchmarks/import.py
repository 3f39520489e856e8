"""Import speed against DuckDB's own JSON reader (SPEC 10: at least a third of `read_json`).

Synthesizes an N-trajectory JSONL from the sample set (each line a real sample trajectory with its
task id and final answer varied so every line is a new trajectory), then times, on the same file:
  - `curator import` (a fresh store, the full path: parse, normalise, check, hash, dedupe, write);
  - DuckDB `CREATE TABLE AS SELECT * FROM read_json(...)` into a fresh database.
Prints both rates and the ratio. Usage: python benchmarks/import.py [--n 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

from curator.paths import SAMPLE_TRAJECTORIES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = SAMPLE_TRAJECTORIES


def synthesize(path: Path, n: int) -> None:
    base = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    with open(path, "wb") as fh:
        for i in range(n):
            record = dict(base[i % len(base)])
            record["task_id"] = f"{record['task_id']}-v{i // len(base)}"
            messages = [dict(m) for m in record["messages"]]
            messages[-1]["content"] = f"{messages[-1].get('content') or ''} (variant {i})"
            record["messages"] = messages
            fh.write(orjson.dumps(record) + b"\n")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "bench.jsonl"
        synthesize(data, args.n)
        size_mb = data.stat().st_size / 1e6

        def ours():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "curator",
                    "import",
                    str(data),
                    "--db",
                    str(tmp / "curator.duckdb"),
                    "--json",
                ],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )

        def duck():
            con = duckdb.connect(str(tmp / "duck.duckdb"))
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{data}', format='newline_delimited')")
            con.close()

        t_duck = timed(duck)
        t_ours = timed(ours)
    print(f"file: {args.n} trajectories, {size_mb:.0f} MB")
    print(f"duckdb read_json: {t_duck:6.2f} s  {args.n / t_duck:10,.0f} trajectories/s")
    print(f"curator import:   {t_ours:6.2f} s  {args.n / t_ours:10,.0f} trajectories/s")
    print(f"ratio curator/duckdb: {t_duck / t_ours:.2f} (target >= 0.33)")


if __name__ == "__main__":
    main()
