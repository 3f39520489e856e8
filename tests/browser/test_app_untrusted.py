"""Trajectory content is untrusted: scripts, event handlers, `javascript:` links and `srcdoc`
iframes in every field never run, in plain text or with the markdown toggle, in every view."""

from __future__ import annotations

import orjson
import pytest
from conftest import write_jsonl

from browser.test_app_review import on_screen, press_and_wait

pytestmark = pytest.mark.slow

PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "<a href=\"javascript:window.__pwned = 'link'\">click</a>",
    "[click me](javascript:window.__pwned='md')",
    "<iframe srcdoc=\"<script>parent.__pwned = 'iframe'</script>\"></iframe>",
    "${alert(1)} {{constructor.constructor('alert(2)')()}}",
]
EVIL = " ".join(PAYLOADS)


def evil_record(n: int) -> dict:
    tool = {
        "type": "function",
        "function": {
            "name": f"get_weather{EVIL}",
            "description": EVIL,
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": EVIL}}},
        },
    }
    return {
        "task_id": f"evil{EVIL}",
        "teacher": EVIL,
        "label": "success",
        "tools": [tool],
        "messages": [
            {"role": "system", "content": EVIL},
            {"role": "user", "content": EVIL},
            {
                "role": "assistant",
                "content": f"{EVIL} {n}",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {
                            "name": f"get_weather{EVIL}",
                            "arguments": orjson.dumps({"city": EVIL}).decode(),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "name": EVIL, "content": EVIL},
            {"role": "assistant", "content": f"{EVIL} final {n}"},
        ],
    }


NOTHING_RAN = """() => {
    const bad = [];
    if (window.__pwned !== undefined) bad.push('ran: ' + window.__pwned);
    for (const el of document.querySelectorAll('#task *, #cards *, #timeline *, #cmp *, #edit-diff *, #quarantine *')) {
        const ours = !el.closest('#quarantine');  // the table widget draws its own icons
        if (['SCRIPT', 'IFRAME', 'IMG', 'OBJECT', 'EMBED'].includes(el.tagName.toUpperCase())
            || (ours && el.tagName.toUpperCase() === 'SVG'))
            bad.push('element ' + el.tagName);
        for (const a of el.attributes) {
            if (a.name.startsWith('on')) bad.push('handler ' + a.name);
            if (/^\\s*javascript:/i.test(a.value)) bad.push('js url in ' + a.name);
            if (a.name === 'srcdoc') bad.push('srcdoc');
        }
    }
    return bad;
}"""


def test_untrusted_content_runs_nothing(tmp_path, serve, page_of):
    source = write_jsonl(tmp_path / "evil.jsonl", [evil_record(1), evil_record(2)])
    with source.open("a") as fh:  # a bad record: quarantined, shown in the Import tab
        fh.write(f'{{"messages": "{EVIL.replace(chr(34), chr(39))}"\n')
    server = serve(source)
    page = page_of(server.url)
    page.wait_for_selector("#cards .traj[data-traj='1']")
    assert "<script>window.__pwned" in page.inner_text("#cards")  # shown, as text
    assert page.evaluate(NOTHING_RAN) == []

    page.click("#md-toggle input")  # markdown, sanitized
    page.wait_for_selector("#cards .txt.md")
    for link in page.locator("#cards a").all():
        link.click(no_wait_after=True)
    assert page.evaluate(NOTHING_RAN) == []

    # a note with a payload lands in the timeline; the editor's diff shows payloads too
    page.keyboard.press("1")
    page.click("#cards .step[data-step='0']")
    page.fill("#fail-note textarea", EVIL)
    page.evaluate("document.activeElement.blur()")
    press_and_wait(page, "f")
    press_and_wait(page, "u")
    page.wait_for_function("document.querySelector('#timeline').innerText.includes('undone')")
    page.keyboard.press("e")
    page.wait_for_selector("#edit-panel", state="visible")
    page.fill("#edit-reply textarea", EVIL + " edited")
    page.click("#edit-check")
    page.wait_for_selector("#edit-diff .add")
    assert page.evaluate(NOTHING_RAN) == []
    page.click("#edit-cancel")

    page.click("#compare-pane-button")
    page.wait_for_selector("#cmp .compare")
    assert page.evaluate(NOTHING_RAN) == []
    page.click("#import-pane-button")
    page.wait_for_function("document.querySelector('#quarantine').innerText.includes('line 3')")
    assert page.evaluate(NOTHING_RAN) == []
    assert on_screen(page) == "1"
    assert page.incidents == []
    assert [e["kind"] for e in server.events()] == ["fail", "undo"]
