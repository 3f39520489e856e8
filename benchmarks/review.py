"""Review speed (SPEC 10): server time for the next item and for a decision at 10k and 1M
trajectories, and key press to next trajectory rendered in headless Chromium.

    .venv/bin/python benchmarks/review.py [--sizes 10000 1000000] [--rounds 300] [--presses 60]

Stores are filled with SQL (an import of a million records is the import benchmark's job), with
the same tables, a realistic trajectory per row and automatic-check flags on a tenth of them.
Targets: next item and decision p95 < 15 ms at 1M and <= 2x the 10k figure; key press to next
rendered p95 < 200 ms. Also measured: the same for trajectories of 200 steps (code in the
arguments, multi-line results), so a long item stays responsive.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from harness import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curator.app.render import task_html, trajectory_html  # noqa: E402 (after the checkout is put on the path)
from curator.app.workbench import Workbench  # noqa: E402 (after the checkout is put on the path)
from curator.messages import rendered  # noqa: E402 (after the checkout is put on the path)
from curator.queue import QueueFilters  # noqa: E402 (after the checkout is put on the path)
from curator.store import Store  # noqa: E402 (after the checkout is put on the path)

TOOLS = [
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
    }
]


def turns(i: int) -> list[dict]:
    city = ("Paris", "Rome", "Oslo", "Lima", "Kyiv")[i % 5]
    return [
        {
            "role": "assistant",
            "thought": f"Look up the weather in {city}.",
            "tool_calls": [{"id": "c0", "name": "get_weather", "arguments": {"city": city}}],
        },
        {"role": "tool", "tool_call_id": "c0", "name": "get_weather", "content": "sunny, 21C"},
        {"role": "assistant", "content": f"It is sunny in {city}."},
    ]


def long_turns(i: int, steps: int) -> list[dict]:
    """A long agent run: each step edits a file (code in the arguments) and gets a log back."""
    out = []
    for k in range(steps):
        code = "".join(f"    value_{j} = compute({k}, {j})  # step {k} of run {i}\n" for j in range(10))
        out += [
            {
                "role": "assistant",
                "thought": f"Step {k}: fix module {k} and run its tests.",
                "tool_calls": [
                    {
                        "id": f"c{k}",
                        "name": "edit_file",
                        "arguments": {"path": f"src/m{k}.py", "content": code},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": f"c{k}",
                "name": "edit_file",
                "content": "\n".join(f"test_{k}_{j} PASSED" for j in range(20)),
            },
        ]
    return [*out, {"role": "assistant", "content": f"All {steps} modules fixed."}]


def fill(path: Path, n: int, variants: list[list[dict]] | None = None) -> None:
    variants = variants or [turns(i) for i in range(5)]
    with Store(path) as store, store.transaction() as con:
        con.execute(
            """INSERT INTO tasks SELECT 'task' || i, 'task' || i, 'What is the weather '
                       || i || '?', NULL, NULL, ? FROM range(1000) t(i)""",
            [orjson.dumps(TOOLS).decode()],
        )
        con.execute(f"""INSERT INTO trajectories SELECT nextval('traj_ids'), 'h' || i,
                            'task' || (i % 1000), 'task' || (i % 1000), 'openai_chat',
                            'bench.jsonl', 'line ' || i, 'teacher', 'success', NULL, NULL, NULL,
                            {(len(variants[0]) + 1) // 2}, ['get_weather'] FROM range({n}) t(i) ORDER BY i""")
        messages, keys = zip(*map(rendered, variants), strict=True)
        columns = (
            [orjson.dumps(v).decode() for v in variants],
            [[m.decode() for m in ms] for ms in messages],
            keys,
        )
        con.execute(
            """INSERT INTO revisions SELECT nextval('rev_ids'), traj_id, 0, NULL,
                            (?::VARCHAR[])[1 + traj_id % ?], 'import', now(),
                            (?::VARCHAR[][])[1 + traj_id % ?], (?::VARCHAR[][])[1 + traj_id % ?]
                       FROM trajectories ORDER BY traj_id""",
            [
                list(columns[0]),
                len(variants),
                list(columns[1]),
                len(variants),
                list(columns[2]),
                len(variants),
            ],
        )
        con.execute("""INSERT INTO state SELECT traj_id, 'pending', rev_id, NULL, NULL, NULL
                       FROM revisions ORDER BY traj_id""")
        con.execute("""INSERT INTO checks SELECT traj_id, rev_id, 'repeated_action', 0, 'same call'
                       FROM revisions WHERE traj_id % 10 = 0""")


def p95(samples: list[float]) -> float:
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(0.95 * len(samples)))] * 1000


def baseline(path: Path, rounds: int) -> float:
    """p95 ms of a plain DuckDB pick-and-lease (one query, one lease row, one commit): what the
    machine gives at best right now, so a loaded machine's figures can be read as ratios."""
    samples = []
    with Store(path) as store:
        con = store.con
        for i in range(rounds + 20):
            t0 = time.perf_counter()
            con.execute("BEGIN TRANSACTION")
            (traj_id,) = con.execute(
                """SELECT traj_id FROM state WHERE status = 'pending' AND traj_id NOT IN
                   (SELECT traj_id FROM leases WHERE expires_at > now())
                   ORDER BY traj_id LIMIT 1"""
            ).fetchone()
            con.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, 'bench', now()::TIMESTAMP + INTERVAL 300 SECOND)",
                [traj_id],
            )
            con.execute("COMMIT")
            if i >= 20:
                samples.append(time.perf_counter() - t0)
        con.execute("DELETE FROM leases")
    return p95(samples)


def server_times(path: Path, rounds: int) -> tuple[float, float]:
    """p95 ms of next item (pick, lease, load, flags, render) and of an accept."""
    nexts, decisions = [], []
    with Store(path) as store:
        bench = Workbench(store, 300)
        for i in range(rounds + 20):
            t0 = time.perf_counter()
            item = bench.next_item(f"r{i % 2}", QueueFilters())
            task_html(item.loaded.task)
            trajectory_html(item.shown.traj_id, item.shown.rev_id, item.loaded.turns, item.loaded.flags)
            t1 = time.perf_counter()
            bench.decide(item.shown, f"r{i % 2}", "accept")
            t2 = time.perf_counter()
            if i >= 20:  # warm-up
                nexts.append(t1 - t0)
                decisions.append(t2 - t1)
    return p95(nexts), p95(decisions)


def browser_latency(path: Path, presses: int) -> float:
    """p95 ms from a key press to the next trajectory's cards in the DOM (measured in-page)."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "curator", "serve", "--db", str(path), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#cards .traj[data-traj]")
            times = []
            for i in range(presses + 5):
                ms = page.evaluate("""() => new Promise(resolve => {
                    const before = document.querySelector('#cards .traj').dataset.traj;
                    const t0 = performance.now();
                    const obs = new MutationObserver(() => {
                        const t = document.querySelector('#cards .traj');
                        if (t && t.dataset.traj !== before) { obs.disconnect();
                            requestAnimationFrame(() => resolve(performance.now() - t0)); }
                    });
                    obs.observe(document.getElementById('cards'), {childList: true, subtree: true,
                                                                   attributes: true});
                    document.dispatchEvent(new KeyboardEvent('keydown', {key: 'a', bubbles: true}));
                })""")
                if i >= 5:
                    times.append(ms / 1000)
            browser.close()
        return p95(times)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--long-steps", type=int, default=200, help="steps of the long trajectories")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="curator-bench-") as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"review-{n}.duckdb"
            t = time.perf_counter()
            fill(path, n)
            print(f"{n:>9} trajectories: filled in {time.perf_counter() - t:.1f} s", flush=True)
            base = baseline(path, args.rounds)
            results[n] = server_times(path, args.rounds)
            print(
                f"{n:>9} trajectories: next item p95 {results[n][0]:.2f} ms, "
                f"decision p95 {results[n][1]:.2f} ms; plain DuckDB pick-and-lease p95 "
                f"{base:.2f} ms (next item = {results[n][0] / base:.2f}x that)",
                flush=True,
            )
        small, large = min(results), max(results)
        for label, k in (("next item", 0), ("decision", 1)):
            ratio = results[large][k] / results[small][k]
            print(
                f"{label}: {results[large][k]:.2f} ms at {large} "
                f"({results[large][k] / 15:.2f}x the 15 ms target), "
                f"{ratio:.2f}x the {small} figure (target <= 2x)"
            )
        latency = browser_latency(Path(tmp) / f"review-{large}.duckdb", args.presses)
        print(
            f"key press to next trajectory rendered (headless Chromium, {large}): p95 "
            f"{latency:.0f} ms ({latency / 200:.2f}x the 200 ms target)"
        )
        path = Path(tmp) / "review-long.duckdb"
        fill(path, 100, [long_turns(i, args.long_steps) for i in range(5)])
        next_long, _ = server_times(path, 40)
        latency = browser_latency(path, 15)
        print(
            f"{args.long_steps}-step trajectories: next item (load and render) p95 {next_long:.1f} ms "
            f"server-side; key press to next rendered (headless Chromium) p95 {latency:.0f} ms "
            f"({latency / 200:.2f}x the 200 ms target)"
        )


if __name__ == "__main__":
    main()
