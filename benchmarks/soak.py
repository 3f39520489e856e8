"""Soak and faults (issue 15.4): N reviewers as parallel browser contexts against one
`curator serve --users` for a set time, the server killed (SIGKILL) at random moments and
restarted, and then the books checked.

    .venv/bin/python benchmarks/soak.py [--reviewers 8] [--minutes 5] [--kill-every 20 60] [--seed 0]

Each reviewer logs in and does a random mix of accept / edit / fail / skip / undo / compare by
keyboard, as a person would, and notes every decision the app acknowledged (its message names
the trajectory). A decision in flight when the server dies is simply not acknowledged; the
reviewer waits for the server, reloads and logs in again. While the server is down, an import
and an export are started and killed halfway (SIGKILL); after each restart one backup is taken
through the app. At the end (server stopped) it checks:

- lost: decisions acknowledged in a browser that are missing from `events` (must be 0);
- double: trajectories with standing decisions (accept / edit / fail, not undone) by two
  reviewers (must be 0: leases are longer than the run, so the second one was held off);
- `state` equals `review.rebuild_state` over the events;
- every interrupted import or export left the store exactly as before;
- every backup taken under load is a store whose state is the rebuild of its events;

and prints decisions/s and the p95 latency (key press to the app's acknowledgement rendered).
Exit 1 if a check fails. Needs Debian's chromium (`CURATOR_CHROMIUM`) and Playwright.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness import CHROMIUM, CHROMIUM_ARGS, free_port
from playwright.async_api import Error as PageError
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curator.paths import SAMPLE_TRAJECTORIES  # noqa: E402 (after the checkout is put on the path)
from curator.review import rebuild_state  # noqa: E402 (after the checkout is put on the path)
from curator.store import Store  # noqa: E402 (after the checkout is put on the path)

ACTIONS = {"accept": 30, "fail": 20, "skip": 15, "edit": 10, "undo": 10, "compare": 15}
ACK_TIMEOUT_MS = 20_000
STATE = "SELECT * FROM state ORDER BY traj_id"
COPIES = 4  # the sample set four times over (distinct tasks), so the queue outlasts the run

# What the app says when it has written a decision (the trajectory id is checked separately).
ACKS = {
    "accept": r"Accepted #(\d+)\.",
    "fail": r"Failed #(\d+)\.",
    "skip": r"Skipped #(\d+)\.",
    "edit": r"Saved revision \d+ of #(\d+) and accepted it\.",
    "undo": r"Undid your last decision on #(\d+)\.",
}


def python() -> str:
    return sys.executable


def cli(*args: str, db: Path | None = None, **kw) -> subprocess.CompletedProcess:
    where = ["--db", str(db)] if db else []
    return subprocess.run(
        [python(), "-m", "curator", *args, *where],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        **kw,
    )


# -- the server and its faults ----------------------------------------------------------------


@dataclass
class Server:
    db: Path
    users: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    up: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        args = ["serve", "--db", str(self.db), "--port", str(self.port), "--users", str(self.users)]
        self.proc = await asyncio.to_thread(
            subprocess.Popen,
            [python(), "-m", "curator", *args, "--lease-seconds", "3600"],
            cwd=ROOT,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"curator serve exited {self.proc.returncode}; see {self.log}")
            try:
                await asyncio.to_thread(urllib.request.urlopen, self.url, timeout=2)
                self.up.set()
                return
            except OSError:
                await asyncio.sleep(0.3)
        raise SystemExit(f"curator serve did not answer in 180 s; see {self.log}")

    def kill(self) -> None:
        self.up.clear()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.up.clear()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def fingerprint(db: Path) -> dict:
    """Row counts and largest ids of every table: what an interrupted command must not change."""
    with Store(db, read_only=True) as s:
        tables = s.column("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'")
        return {t: s.scalar(f'SELECT count(*) FROM "{t}"') for t in tables}


def interrupted(args: list[str], db: Path, after: float) -> None:
    proc = subprocess.Popen(
        [python(), "-m", "curator", *args, "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@dataclass
class Faults:
    kills: int = 0
    interrupted: int = 0
    interrupted_changed: list = field(default_factory=list)
    backups: list = field(default_factory=list)


async def fault_loop(
    server: Server, work: Path, big: Path, kill_every, rng, stop: asyncio.Event, faults: Faults
):
    """Kill the server at random moments; while it is down, kill an import and an export
    halfway and check the store did not change; restart it, and take a backup through it."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(*kill_every))
            return
        except TimeoutError:
            pass
        server.kill()
        faults.kills += 1
        before = await asyncio.to_thread(fingerprint, server.db)
        for args in (["import", str(big)], ["export", "--out", str(work / "export"), "--overwrite"]):
            await asyncio.to_thread(interrupted, args, server.db, rng.uniform(0.5, 3.0))
            faults.interrupted += 1
            after = await asyncio.to_thread(fingerprint, server.db)
            if after != before:
                faults.interrupted_changed.append({"command": args[0], "before": before, "after": after})
        await server.start()
        server.restarts += 1
        out = work / f"backup-{faults.kills}.duckdb"
        proc = await asyncio.to_thread(cli, "backup", str(out), "--json", db=server.db)
        faults.backups.append(
            json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.strip()}
        )


# -- a reviewer -------------------------------------------------------------------------------


@dataclass
class Reviewer:
    name: str
    rng: random.Random
    acked: list = field(default_factory=list)  # (kind, traj ids, seconds)
    unacked: int = 0
    relogins: int = 0


async def login(page, server: Server, who: Reviewer) -> None:
    await server.up.wait()
    await page.goto(server.url)
    await page.wait_for_selector("input[type=password]", timeout=60_000)
    await page.locator("input[type=text]").first.fill(who.name)
    await page.fill("input[type=password]", f"pw-{who.name}")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#cards .traj[data-traj], #cards", timeout=60_000)


async def said(page, selector: str = "#message .ok") -> str:
    """The app's message of that kind now (its own element: the box around it also shows
    Gradio's progress text while a request runs)."""
    return await page.evaluate("s => document.querySelector(s)?.innerText ?? ''", selector)


async def message_matches(page, pattern: str, before: str, selector: str = "#message .ok") -> list[str]:
    """Wait until the app's message is a new one matching `pattern`; the trajectory ids it names."""
    await page.wait_for_function(
        "([sel, pat, before]) => { const m = document.querySelector(sel);"
        " return m && m.innerText !== before && new RegExp(pat).test(m.innerText) }",
        arg=[selector, pattern, before],
        timeout=ACK_TIMEOUT_MS,
    )
    return re.findall(r"#(\d+)", await said(page, selector))


async def act(page, kind: str, rng: random.Random) -> list[str] | None:
    """One decision by keyboard; the trajectory ids the app acknowledged, or None if it was not
    possible here (no item, a refusal: the app said why and wrote nothing)."""
    if kind == "compare":
        return await compare(page, rng)
    shown = await page.get_attribute("#cards .traj", "data-traj", timeout=5_000)
    if shown is None and kind != "undo":
        return None
    before = await said(page)
    if kind == "fail":
        await page.keyboard.press("1")
        await page.keyboard.press("j")
    if kind == "edit":
        await page.keyboard.press("e")
        await page.wait_for_selector("#edit-panel", state="visible", timeout=5_000)
        await page.fill("#edit-thought textarea", f"Soak edit {rng.random():.6f}: check first, then answer.")
        await page.click("#edit-save")
    else:
        await page.keyboard.press(kind[0])
    try:
        ids = await message_matches(page, ACKS[kind], before)
    except PageError:
        if await said(page, "#message .err") or kind in ("fail", "edit", "undo"):
            await page.keyboard.press("Escape")
            return None  # refused, nothing to undo, or nothing changed: the app said so
        raise
    return ids[:1]


async def compare(page, rng: random.Random) -> list[str] | None:
    await page.click("#compare-pane-button")
    try:
        await page.wait_for_selector("#cmp .compare", timeout=5_000)
    except PageError:
        await page.click("#review-pane-button")
        return None  # no pair to compare now
    before = await said(page, "#cmp-message .ok")
    await page.keyboard.press(rng.choice("lrtb"))
    ids = await message_matches(page, r"Recorded: .* \(#\d+ vs #\d+\)", before, "#cmp-message .ok")
    await page.click("#review-pane-button")
    return ids


async def relogin(page, server: Server, who: Reviewer, stop: asyncio.Event) -> None:
    """Log in again once the server answers (after a restart the app knows no session)."""
    while not stop.is_set():
        await asyncio.sleep(1)
        try:
            await login(page, server, who)
        except PageError as exc:
            print(f"soak: {who.name}: login failed ({str(exc).splitlines()[0]}); retrying", file=sys.stderr)
        else:
            who.relogins += 1
            return


async def review(browser, server: Server, who: Reviewer, stop: asyncio.Event, latencies: list) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server, who)
    kinds, weights = list(ACTIONS), list(ACTIONS.values())
    while not stop.is_set():
        kind = who.rng.choices(kinds, weights)[0]
        start = time.perf_counter()
        try:
            ids = await act(page, kind, who.rng)
        except PageError:
            who.unacked += 1  # the server died under it (or the page did): log in again
            await relogin(page, server, who, stop)
            continue
        if ids:
            seconds = time.perf_counter() - start
            who.acked.append((kind, ids, seconds))
            latencies.append(seconds)
    await context.close()


# -- the books --------------------------------------------------------------------------------


def check_books(db: Path, reviewers: list[Reviewer]) -> dict:
    copy = db.with_name("checked.duckdb")
    shutil.copyfile(db, copy)
    with Store(copy) as s:
        events = s.con.execute(
            "SELECT event_id, reviewer, kind, traj_id, other_traj_id, undoes FROM events ORDER BY event_id"
        ).fetchall()
        before = s.con.execute(STATE).fetchall()
        rebuild_state(s)
        state_ok = s.con.execute(STATE).fetchall() == before
    unmatched = {}
    for _, reviewer, kind, traj, other, _ in events:
        key = (reviewer, kind, tuple(sorted(str(t) for t in (traj, other) if t is not None)))
        unmatched[key] = unmatched.get(key, 0) + 1
    lost = []
    for who in reviewers:
        for kind, ids, _ in who.acked:
            key = (who.name, kind, tuple(sorted(ids)))
            if unmatched.get(key, 0) > 0:
                unmatched[key] -= 1
            else:
                lost.append(key)
    undone = {u for *_, u in events if u is not None}
    standing = {}
    for event_id, reviewer, kind, traj, _, _ in events:
        if kind in ("accept", "edit", "fail") and event_id not in undone:
            standing.setdefault(traj, set()).add(reviewer)
    double = sorted(t for t, who in standing.items() if len(who) > 1)
    return {
        "events": len(events),
        "lost": lost,
        "double": double,
        "state_equals_rebuild": state_ok,
        "written_not_acknowledged": sum(unmatched.values()),
    }


def backup_ok(result: dict) -> bool:
    if "error" in result or result.get("via") != "app":
        return False
    with Store(result["out"]) as s:
        before = s.con.execute(STATE).fetchall()
        rebuild_state(s)
        return s.con.execute(STATE).fetchall() == before


# -- the run ----------------------------------------------------------------------------------


def prepare(work: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A store with the sample set COPIES times over (each copy its own tasks), the users file,
    and a large file for the imports killed halfway."""
    records = [json.loads(line) for line in SAMPLE_TRAJECTORIES.read_text().splitlines() if line.strip()]
    source = work / "soak.jsonl"
    with source.open("w") as fh:
        for copy in range(COPIES):
            for r in records:
                r = json.loads(json.dumps(r))
                r["task_id"] = f"{r.get('task_id', 'task')}-copy{copy}"
                for m in r["messages"]:
                    if m["role"] == "user":
                        m["content"] = f"{m['content']} (copy {copy})"
                        break
                fh.write(json.dumps(r) + "\n")
    db = work / "soak.duckdb"
    if cli("import", str(source), db=db).returncode != 0:
        raise SystemExit("could not import the soak set")
    users = work / "users.txt"
    for name in names:
        cli("users", "add", name, "--users", str(users), input=f"pw-{name}\n")
    big = work / "big.jsonl"
    with big.open("w") as fh:
        for i in range(40_000):
            r = records[i % len(records)]
            fh.write(json.dumps({**r, "task_id": f"big-{i}"}) + "\n")
    return db, users, big


async def soak(args, work: Path) -> dict:
    rng = random.Random(args.seed)
    names = [f"reviewer{i + 1}" for i in range(args.reviewers)]
    db, users, big = await asyncio.to_thread(prepare, work, names)
    server = Server(db, users, work / "serve.log")
    await server.start()
    reviewers = [Reviewer(n, random.Random(rng.random())) for n in names]
    latencies: list[float] = []
    stop, faults = asyncio.Event(), Faults()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        started = time.perf_counter()
        tasks = [asyncio.create_task(review(browser, server, r, stop, latencies)) for r in reviewers]
        tasks.append(asyncio.create_task(fault_loop(server, work, big, args.kill_every, rng, stop, faults)))
        await asyncio.sleep(args.minutes * 60)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - started
        await browser.close()
    await server.up.wait()
    server.stop()
    books = check_books(db, reviewers)
    acked = sum(len(r.acked) for r in reviewers)
    return {
        "reviewers": args.reviewers,
        "minutes": args.minutes,
        "seconds": round(elapsed, 1),
        "acknowledged": acked,
        "by_kind": {k: sum(1 for r in reviewers for kind, *_ in r.acked if kind == k) for k in ACTIONS},
        "decisions_per_s": round(acked / elapsed, 2),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p95_ms": round(statistics.quantiles(latencies, n=20)[18] * 1000) if len(latencies) > 1 else None,
        "unacknowledged_attempts": sum(r.unacked for r in reviewers),
        "relogins": sum(r.relogins for r in reviewers),
        "server_kills": faults.kills,
        "interrupted_commands": faults.interrupted,
        "interrupted_changed_store": faults.interrupted_changed,
        "backups": len(faults.backups),
        "backups_consistent": sum(map(backup_ok, faults.backups)),
        **books,
        "lost_count": len(books["lost"]),
        "double_count": len(books["double"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--kill-every", type=float, nargs=2, default=(20, 60), metavar=("MIN_S", "MAX_S"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (store, logs)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="curator-soak-"))
    try:
        result = asyncio.run(soak(args, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ok = (
        not result["lost"]
        and not result["double"]
        and result["state_equals_rebuild"]
        and not result["interrupted_changed_store"]
        and result["backups_consistent"] == result["backups"]
    )
    print(
        f"soak: {result['reviewers']} reviewers, {result['seconds']} s, {result['server_kills']} server kills; "
        f"{result['acknowledged']} decisions acknowledged ({result['decisions_per_s']}/s), "
        f"p95 {result['p95_ms']} ms (p50 {result['p50_ms']} ms); lost {result['lost_count']}, "
        f"double {result['double_count']}, state = rebuild: {result['state_equals_rebuild']}, "
        f"interrupted imports/exports that changed the store: {len(result['interrupted_changed_store'])} "
        f"of {result['interrupted_commands']}, backups consistent: {result['backups_consistent']} "
        f"of {result['backups']}" + ("" if ok else "  FAILED"),
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
