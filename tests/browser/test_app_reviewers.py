"""Two reviewers with logins: never shown the same trajectory; a decision on an item whose lease
was lost is refused, not written; the login names the reviewer on every event."""

from __future__ import annotations

import time

import pytest
from conftest import SAMPLE, run_cli

from browser.test_app_review import on_screen, press_and_wait

pytestmark = pytest.mark.slow
LEASE = 4


def login(page, name: str, password: str) -> None:
    page.wait_for_selector("input[type=password]")
    page.locator("input[type=text]").first.fill(name)
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#cards .traj[data-traj]")


def test_two_reviewers_leases(tmp_path, serve, page_of):
    users = tmp_path / "users.txt"
    for name in ("alice", "bob"):
        run_cli(
            "users", "add", name, "--users", str(users), "--password-stdin", input=f"pw-{name}\n", check=True
        )
    assert "pw-alice" not in users.read_text()
    server = serve(SAMPLE, "--users", str(users), "--lease-seconds", str(LEASE))
    alice, bob = page_of(server.url), page_of(server.url)
    login(alice, "alice", "pw-alice")
    login(bob, "bob", "pw-bob")
    seen = {"alice": [on_screen(alice)], "bob": [on_screen(bob)]}
    for _ in range(3):
        seen["alice"].append(press_and_wait(alice, "a"))
        seen["bob"].append(press_and_wait(bob, "a"))
    assert not set(seen["alice"]) & set(seen["bob"]), seen
    assert "reviewer alice" in alice.inner_text("#progress")

    # alice's item sits past its lease; bob skips his and gets it; alice's accept is refused
    held = on_screen(alice)
    time.sleep(LEASE + 1)
    assert press_and_wait(bob, "s") == held
    refused = press_and_wait(alice, "a")
    assert refused != held
    assert "being reviewed by bob" in alice.inner_text("#message")
    assert "not saved" in alice.inner_text("#message")

    events = server.events()
    decided = [(e["reviewer"], str(e["traj_id"]), e["kind"]) for e in events]
    assert decided == [
        *[(who, seen[who][i], "accept") for i in range(3) for who in ("alice", "bob")],
        ("bob", seen["bob"][3], "skip"),
    ]
