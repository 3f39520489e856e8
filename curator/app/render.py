"""HTML for the review screens: the task, step cards, the edit diff, the timeline, A/B compare.

Trajectory content is untrusted (a teacher model wrote it, a file brought it): every piece of it
goes through `html.escape` and is shown as text. Markdown is an opt-in per reviewer and goes
through markdown-it with raw HTML off and images off; its link check refuses `javascript:`,
`vbscript:`, `file:` and `data:` URLs. Nothing here emits a script, an event handler attribute or
an iframe, whatever the content.

Tool arguments and results are shown for reading, not as stored: JSON pretty-printed, and a string
value holding line breaks (code, a file, a log) as a monospace block of its real lines and
characters rather than a JSON string full of escapes. The store and the export keep the exact
values. Long texts and results are cut to their first lines with a "show all" switch (CSS only).
"""

from __future__ import annotations

import difflib
import json
from html import escape

from markdown_it import MarkdownIt

from curator.messages import rendered
from curator.model import Task, Turn
from curator.steps import Block, blocks

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
LONG_LINES = 14  # a text, result or argument list longer than this is cut, with "show all"
LONG_CHARS = 1600


def text(value: str, markdown: bool = False) -> str:
    if markdown:
        return f'<div class="txt md">{_markdown.render(value or "")}</div>'
    return f'<div class="txt">{escape(value or "")}</div>'


def pretty_json(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def json_html(value, depth: int = 0) -> str:
    """A JSON value laid out like `json.dumps(indent=2)`, as escaped HTML for a `<pre>`: strings
    with their real characters, and a string holding line breaks as a block of its lines."""
    pad = "  " * depth
    if isinstance(value, dict) and value:
        items = [
            f'{pad}  <span class="key">"{escape(k)}"</span>: {json_html(v, depth + 1)}'
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(f"{pad}  {json_html(v, depth + 1)}" for v in value) + f"\n{pad}]"
    if isinstance(value, str):
        if "\n" in value:
            return f'<span class="block">{escape(value)}</span>'
        return f'<span class="str">"{escape(value)}"</span>'
    return escape(json.dumps(value))


def structured(content: str):
    """The JSON object, array or string a tool result's text holds, else None (plain text)."""
    stripped = content.strip()
    if not stripped or stripped[0] not in '{["':
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def clipped(body: str) -> str:
    """`body` (escaped HTML), cut to its first lines when long, with a "show all" switch."""
    lines = body.count("\n") + 1
    if lines <= LONG_LINES and len(body) <= LONG_CHARS:
        return body
    return (
        f'<div class="long"><div class="clipped">{body}</div><label class="showall">'
        f'<input type="checkbox"><span class="more">show all ({lines} lines)</span>'
        f'<span class="less">show less</span></label></div>'
    )


def _section(label: str, body: str, cls: str) -> str:
    return f'<div class="part {cls}"><span class="lbl">{label}</span>{body}</div>'


def task_html(task: Task, markdown: bool = False) -> str:
    parts = [_section("Instruction", clipped(text(task.instruction, markdown)), "instruction")]
    if task.context:
        parts.append(_section("Context", clipped(text(task.context, markdown)), "context"))
    if task.system:
        parts.append(
            f'<details class="system"><summary>System prompt</summary>{text(task.system, markdown)}</details>'
        )
    if task.tools:
        names = ", ".join(escape(str(t.get("function", t).get("name"))) for t in task.tools)
        parts.append(
            f'<details class="tools"><summary>Tools ({len(task.tools)}): {names}'
            f"</summary><pre>{escape(pretty_json(list(task.tools)))}</pre></details>"
        )
    return f'<div class="task">{"".join(parts)}</div>'


def _flag_badges(flags: list[dict]) -> str:
    return "".join(
        f'<div class="flag" data-check="{escape(f["check"])}"><b>{escape(f["check"])}'
        f"</b> {escape(f['message'] or '')}</div>"
        for f in flags
    )


def _step_card(block: Block, last_step: int, flags: list[dict], markdown: bool) -> str:
    turn = block.turn
    if block.step is None:
        role = "User" if turn.role == "user" else "Result"
        if turn.name:  # who spoke: a code executor in a multi-agent run, a mid-run system notice
            role += f" · {escape(turn.name)}"
        return f'<div class="card {turn.role}">{_section(role, text(turn.content, markdown), "msg")}</div>'
    parts = []
    if turn.thought:
        parts.append(_section("Thought", text(turn.thought, markdown), "thought"))
    if turn.content:
        final = block.step == last_step and not turn.tool_calls
        parts.append(
            _section(
                "Final answer" if final else "Says",
                text(turn.content, markdown),
                "final" if final else "says",
            )
        )
    for call in turn.tool_calls:
        args = escape(call.arguments) if isinstance(call.arguments, str) else json_html(call.arguments)
        parts.append(
            _section(
                "Tool call",
                f'<code class="tool-name">{escape(call.name)}</code>'
                + clipped(f'<pre class="args">{args}</pre>'),
                "call",
            )
        )
    for result in block.results:
        value = structured(result.content)
        shown = escape(result.content) if value is None else json_html(value)
        parts.append(_section("Result", clipped(f'<pre class="txt">{shown}</pre>'), "result"))
    if turn.meta.get("end"):  # the environment's closing words: not the model's, never trained on
        parts.append(_section("Episode end (source)", text(str(turn.meta["end"])), "end"))
    if turn.raw:
        parts.append(
            f'<details class="raw"><summary>raw text</summary><pre>{escape(turn.raw)}</pre></details>'
        )
    flagged = " flagged" if flags else ""
    agent = f' · <span class="agent">{escape(turn.name)}</span>' if turn.name else ""
    return (
        f'<div class="card step{flagged}" data-step="{block.step}">'
        f'<div class="step-head">Step {block.step + 1}{agent}</div>{_flag_badges(flags)}'
        f"{''.join(parts)}</div>"
    )


def trajectory_html(
    traj_id: int, rev_id: int, turns, flags: list[dict], markdown: bool = False, header: str = ""
) -> str:
    """The step cards. The wrapper's data attributes let the keyboard script find the steps
    and let tests (and the latency benchmark) see which trajectory is on screen."""
    bs = blocks(turns)
    last = max((b.step for b in bs if b.step is not None), default=-1)
    by_step: dict[int | None, list[dict]] = {}
    for f in flags:
        by_step.setdefault(f["step"], []).append(f)
    cards = [_step_card(b, last, by_step.get(b.step, []) if b.step is not None else [], markdown) for b in bs]
    overall = _flag_badges(by_step.get(None, []))
    return (
        f'<div class="traj" data-traj="{traj_id}" data-rev="{rev_id}" data-steps="{last + 1}">'
        f"{header}{overall}{''.join(cards)}</div>"
    )


def source_failure_html(meta: dict) -> str:
    """The source's own human label of the first faulty step (Who&When), shown beside the item."""
    failure = meta.get("failure")
    if not isinstance(failure, dict) or not (failure.get("agent") or failure.get("reason")):
        return ""
    step = failure.get("first_step")
    where = f"step {step + 1}" if isinstance(step, int) else "a step"
    who = f" by {escape(str(failure['agent']))}" if failure.get("agent") else ""
    why = f": {escape(str(failure['reason']))}" if failure.get("reason") else ""
    return f'<div class="meta source-failure">Source failure at {where}{who}{why}</div>'


def ok(message: str) -> str:
    return f'<div class="ok">{escape(message)}</div>'


def err(message: str) -> str:
    return f'<div class="err">{escape(message)}</div>'


def empty_html(message: str) -> str:
    return f'<div class="traj empty" data-traj="">{escape(message)}</div>'


# -- edit diff -------------------------------------------------------------------------------


def _lines(turns) -> list[str]:
    out = []
    for b in blocks(turns):
        name = "user" if b.step is None else f"step {b.step + 1}"
        t = b.turn
        for label, value in (("thought", t.thought), ("says", t.content)):
            out += [f"{name} {label}: {line}" for line in value.splitlines()] if value else []
        for c in t.tool_calls:
            out.append(f"{name} call: {c.name} {json.dumps(c.arguments, ensure_ascii=False)}")
        for r in b.results:
            out += [f"{name} result: {line}" for line in r.content.splitlines()]
    return out


def diff_html(original, edited) -> str:
    lines = list(
        difflib.unified_diff(_lines(original), _lines(edited), "original", "edited", lineterm="", n=1)
    )
    if not lines:
        return '<div class="diff same">No changes yet.</div>'
    rows = []
    for line in lines[2:]:
        cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        rows.append(f'<div class="{cls}">{escape(line)}</div>')
    return f'<div class="diff">{"".join(rows)}</div>'


# -- timeline --------------------------------------------------------------------------------


def open_link(traj_id: int) -> str:
    """#id that opens that trajectory in Review when clicked (keys.js fills "open #id")."""
    return f'<span class="open" data-open="{int(traj_id)}" role="link" tabindex="0">#{int(traj_id)}</span>'


def timeline_html(events: list[dict], with_ids: bool = False) -> str:
    """A trajectory's history, or with `with_ids` the store's latest events, each #id a link."""
    if not events:
        return '<div class="timeline">No decisions yet.</div>'
    rows = []
    for e in events:
        what = escape(e["kind"])
        if e["kind"] == "fail":
            what += f" [{escape(', '.join(e['tags'] or []))}] at step {(e['first_step'] or 0) + 1}"
        if e["kind"] == "undo":
            what += f" of event {e['undoes']}"
        if e["kind"] == "compare":
            what += f" with {open_link(e['other_traj_id'])}: {escape(e['verdict'] or '')}"
        if e.get("undone"):
            what += " (undone)"
        took = f" · {e['seconds']:.0f}s" if e["seconds"] is not None else ""
        note = f'<div class="note">{escape(e["note"])}</div>' if e["note"] else ""
        rows.append(
            f'<li data-event="{e["event_id"]}"><b>{escape(e["at"])}</b> '
            f"{open_link(e['traj_id']) + ' ' if with_ids else ''}"
            f"{escape(e['reviewer'] or '')}: {what}{took}{note}</li>"
        )
    return f'<ol class="timeline">{"".join(rows)}</ol>'


# -- compare ---------------------------------------------------------------------------------


def _keys(turns) -> list[str]:
    """The turns' pairing keys: steps whose keys differ are marked as differing."""
    return rendered([t.to_dict() for t in turns])[1]


def compare_html(
    task: Task, left: tuple[int, list[Turn]], right: tuple[int, list[Turn]], markdown: bool = False
) -> str:
    """Two trajectories of one task, step k beside step k; steps that differ are marked."""
    lb, rb = blocks(left[1]), blocks(right[1])
    last_l = max((b.step for b in lb if b.step is not None), default=-1)
    last_r = max((b.step for b in rb if b.step is not None), default=-1)
    rows = []
    for i in range(max(len(lb), len(rb))):
        cells = []
        for bs, last in ((lb, last_l), (rb, last_r)):
            cells.append(_step_card(bs[i], last, [], markdown) if i < len(bs) else "")
        same = i < len(lb) and i < len(rb) and _keys(lb[i].turns) == _keys(rb[i].turns)
        rows.append(
            f'<div class="cmp-row{"" if same else " differs"}">'
            f'<div class="cmp-cell">{cells[0]}</div>'
            f'<div class="cmp-cell">{cells[1]}</div></div>'
        )
    return (
        f'<div class="compare" data-left="{left[0]}" data-right="{right[0]}">'
        f'{task_html(task, markdown)}<div class="cmp-row cmp-head"><div>Left</div>'
        f"<div>Right</div></div>{''.join(rows)}</div>"
    )
