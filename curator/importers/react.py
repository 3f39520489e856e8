"""Plain-text ReAct traces, and the ReAct parsing rules the other families reuse.

Two public styles are read: the seed article's `THOUGHT: / ACTION: name(arg="v", n=3) / RESULT: /
FINISHED:` and the ReAct repo's numbered `Question: / Thought 1: / Action 1: Search[x] /
Observation 1:` (also `Answer:` for its chain-of-thought prompts, LangChain's `Action Input:` and
`Final Answer:`, WebShop's `think[...]`). A text holds one trajectory or several (a few-shot prompt:
each example starts at `Question:`/`Claim:`/`Task:`/`Instruction:`). Mis-encoded text is kept as
it is: the reviewer sees what the source says.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass, field

from curator.importers.base import (
    Context,
    RecordError,
    RecordInfo,
    as_text,
    assistant_turn,
    end_marker,
    finish_answer,
    join,
    kind,
    make_trajectory,
    mark_end,
    parse_arguments,
    with_end,
)
from curator.model import Task, ToolCall, Trajectory, Turn

NAME = "react"

LABELS = {
    "thought": "thought",
    "action": "action",
    "action input": "input",
    "observation": "observation",
    "result": "observation",
    "finished": "final",
    "final answer": "final",
    "answer": "final",
    "question": "task",
    "claim": "task",
    "task": "task",
    "instruction": "task",
    "correct answer": "reference",
}
LABEL_LINE = re.compile(
    r"^[ \t]*(?P<label>"
    + "|".join(sorted(LABELS, key=len, reverse=True))
    + r")(?:[ \t]+\d+)?[ \t]*:[ \t]?(?P<rest>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
STEP_ANY = re.compile(
    r"^[ \t]*(thought|action|answer|final answer|finished)(?:[ \t]+\d+)?[ \t]*:", re.IGNORECASE | re.MULTILINE
)
STEP_START = re.compile(r"\A\s*(thought|action)(?:[ \t]+\d+)?[ \t]*:", re.IGNORECASE)
BRACKET_ACTION = re.compile(r"\A([A-Za-z_][\w.\-]*)\[(.*)\]\Z", re.DOTALL)
CALL_ACTION = re.compile(r"\A([A-Za-z_][\w.\-]*)\((.*)\)\Z", re.DOTALL)
BLANK_LINE_BEFORE = re.compile(r"\n[ \t\r]*\n[ \t]*\Z")
IDENTIFIER = re.compile(r"\A[A-Za-z_][\w.\-]*\Z")
FINAL_ANSWER_NAMES = {"final answer", "final_answer"}
# Reflexion's run logs: `BEGIN TRIAL n` banners, then sections of agents by outcome.
TRIAL = re.compile(r"^[ \t]*BEGIN TRIAL (?P<n>\d+)[ \t]*$", re.MULTILINE)
SECTION = re.compile(r"^[ \t]*-{3,}[ \t]*BEGIN (?P<kind>[A-Z_]+) AGENTS[ \t]*-*[ \t]*$", re.MULTILINE)
SECTION_LABELS = {"CORRECT": "success", "INCORRECT": "failure", "HALTED": "failure", "NOT_FINISH": "failure"}
REFERENCE_LINE = re.compile(r"^[ \t]*Correct answer:.*$", re.MULTILINE | re.IGNORECASE)
BANNER_LINE = re.compile(
    r"\A(?:#{3,}|-{3,}.*-{3,}|BEGIN TRIAL \d+|Trial summary:.*|Matthews Correlation.*)\Z", re.IGNORECASE
)


@dataclass(frozen=True)
class Final:
    """An action that ends the episode with an answer (`Finish[x]`)."""

    answer: str


@dataclass(frozen=True)
class Think:
    """An action that is only a thought (WebShop's `think[...]`); the environment answers `OK.`."""

    text: str


@dataclass
class Segment:
    label: str  # normalized: thought, action, input, observation, final, task
    text: str
    raw: str
    after_blank: bool = False  # a blank line comes right before the label


@dataclass
class Example:
    """One trajectory found in ReAct text. `end` is what the environment said after the final
    answer (FireAct: `Episode finished, reward = True`)."""

    instruction: str | None = None
    turns: list[Turn] = field(default_factory=list)
    end: str | None = None
    reference: str | None = None  # Reflexion's `Correct answer:` line: the grader's, not the agent's


def looks_like_react(text: str) -> bool:
    """Does this message/output start as a ReAct step (`Thought:` or `Action:`)?"""
    return bool(STEP_START.match(text))


def observation_text(text: str) -> str | None:
    """The result in an `Observation: ...` message (FireAct sends results as user turns)."""
    match = LABEL_LINE.match(text.lstrip())
    if match and LABELS[match["label"].lower()] == "observation":
        return text.lstrip()[match.start("rest") :].strip()
    return None


def parse_action(text: str, action_input: str | None = None) -> ToolCall | Final | Think:
    """One action as written: `Search[x]`, `get_weather(location="Tokyo", n=3)`, a bare name, or a
    name followed by an `Action Input:`. Arguments that cannot be read are kept as raw text."""
    text = text.strip()
    if action_input is not None:
        call = ToolCall(text, input_arguments(action_input))
        answer = finish_answer(call)
        if answer is None and text.lower() in FINAL_ANSWER_NAMES:  # LangChain's JSON agent
            args = call.arguments
            answer = as_text(args.get("input", args)) if isinstance(args, dict) else args
        return call if answer is None else Final(answer)
    if match := BRACKET_ACTION.match(text):
        name, arg = match[1], match[2]
        if name.lower() == "finish":
            return Final(arg)
        if name.lower() == "think":
            return Think(arg)
        return ToolCall(name, {"input": arg})
    if match := CALL_ACTION.match(text):
        name, arguments = match[1], call_arguments(match[2])
        if name.lower() in FINAL_ANSWER_NAMES | {"finish"}:
            values = list(arguments.values()) if isinstance(arguments, dict) else [arguments]
            return Final(as_text(values[0]) if len(values) == 1 else as_text(values or ""))
        return ToolCall(name, arguments)
    if IDENTIFIER.match(text):
        return ToolCall(text, {})
    name, _, rest = text.partition(" ")
    return ToolCall(name, {"input": rest.strip()})


def input_arguments(text: str):
    """An `Action Input:`: a JSON object (ToolLLaMA), else plain text (LangChain). Text that
    tries to be an object but is not valid JSON is kept raw."""
    text = text.strip()
    parsed = parse_arguments(text)
    if isinstance(parsed, dict) or text.startswith("{"):
        return parsed
    return {"input": text}


def call_arguments(text: str):
    """`key="v", n=3` as a dict; one positional value as `{"input": v}` (or itself when it is an
    object); what is not a literal call is kept as the raw string."""
    if not text.strip():
        return {}
    try:
        node = ast.parse(f"f({text})", mode="eval").body
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if len(node.keywords) != len(kwargs):
        return text  # **spread arguments
    if not args:
        return kwargs
    if len(args) == 1 and not kwargs:
        return args[0] if isinstance(args[0], dict) else {"input": args[0]}
    return {**kwargs, "args": args}


def segments(text: str, split_examples: bool) -> tuple[str, list[Segment]]:
    """The text before the first label, and the labelled segments (continuation lines belong to
    the segment above). Task labels only count where a text may hold several examples."""
    matches = [m for m in LABEL_LINE.finditer(text) if split_examples or LABELS[m["label"].lower()] != "task"]
    if not matches:
        return text, []
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return text[: matches[0].start()], [
        Segment(
            LABELS[m["label"].lower()],
            text[m.start("rest") : end].strip(),
            text[m.start() : end].strip(),
            BLANK_LINE_BEFORE.search(text, max(0, m.start() - 80), m.start()) is not None,
        )
        for m, end in zip(matches, ends, strict=True)
    ]


class TraceReader:
    """Turns labelled segments into examples of turns, one segment at a time."""

    def __init__(self, split_examples: bool):
        self.split_examples = split_examples
        self.examples = [Example()]
        self.thoughts: list[str] = []
        self.raws: list[str] = []
        self.waiting: ToolCall | None = None  # the call whose observation comes next
        self.after_final = False

    @property
    def current(self) -> Example:
        return self.examples[-1]

    def read(self, segs: list[Segment]) -> list[Example]:
        i = 0
        while i < len(segs):
            seg = segs[i]
            if seg.label == "action":
                following = segs[i + 1] if i + 1 < len(segs) else None
                action_input = following if following and following.label == "input" else None
                self.action(seg, action_input)
                i += 1 if action_input is None else 2
                continue
            getattr(self, seg.label)(seg)
            i += 1
        self.close()
        return self.examples

    def task(self, seg: Segment) -> None:
        last = self.current.turns[-1] if self.current.turns else None
        if last is not None and last.role == "tool" and not seg.after_blank:
            # A page the tool returned can itself hold a task line (WebShop's `Instruction:`).
            self.current.turns[-1] = dataclasses.replace(
                last, content=f"{last.content}\n{seg.raw}", raw=f"{last.raw}\n{seg.raw}"
            )
            return
        if self.current.turns or self.current.instruction is not None or self.thoughts:
            self.next_example()
        self.current.instruction = seg.text

    def thought(self, seg: Segment) -> None:
        self.start_step()
        self.thoughts.append(seg.text)
        self.raws.append(seg.raw)

    def action(self, seg: Segment, action_input: Segment | None) -> None:
        self.start_step()
        # An action is one paragraph; text after a blank line is not part of it (kept in raw).
        result = parse_action(seg.text.split("\n\n")[0], action_input.text if action_input else None)
        self.raws += [seg.raw] + ([action_input.raw] if action_input else [])
        if isinstance(result, Think):
            self.thoughts.append(result.text)
            return
        if isinstance(result, Final):
            self.emit(
                Turn("assistant", thought=join(*self.thoughts), content=result.answer, raw=self.pending_raw())
            )
            self.after_final = True
            return
        self.emit(assistant_turn(join(*self.thoughts), "", [result], self.pending_raw()))
        self.waiting = result

    def reference(self, seg: Segment) -> None:
        self.current.reference = seg.text

    def input(self, seg: Segment) -> None:
        self.raws.append(seg.raw)  # an `Action Input:` with no action: shown, not guessed at

    def observation(self, seg: Segment) -> None:
        if (end := end_marker(seg.text)) is not None:  # never a tool result
            self.current.end = join(self.current.end, end)
            mark_end(self.current.turns, end)
            self.waiting = None
        elif self.waiting is not None:
            self.emit(
                Turn(
                    "tool",
                    content=seg.text,
                    name=self.waiting.name,
                    tool_call_id=self.waiting.id,
                    raw=seg.raw,
                )
            )
            self.waiting = None
        elif self.after_final:
            self.current.end = join(self.current.end, seg.text)
            mark_end(self.current.turns, seg.text)
        else:
            self.raws.append(seg.raw)  # e.g. `OK.` after a think: shown with the next turn

    def final(self, seg: Segment) -> None:
        self.raws.append(seg.raw)
        self.emit(Turn("assistant", thought=join(*self.thoughts), content=seg.text, raw=self.pending_raw()))
        self.after_final = True

    def start_step(self) -> None:
        """A step after a final answer starts the next example (texts without `Question:` lines):
        its task is the paragraph after the answer's last blank line."""
        if not (self.after_final and self.split_examples):
            return
        last = self.current.turns[-1]
        answer, _, paragraph = last.content.rpartition("\n\n")
        instruction = None
        if answer:
            self.current.turns[-1] = dataclasses.replace(
                last, content=answer.strip(), raw=(last.raw or "").rpartition("\n\n")[0]
            )
            instruction = paragraph.strip()
        self.next_example()
        self.current.instruction = instruction

    def pending_raw(self) -> str:
        raw = "\n".join(self.raws)
        self.raws = []
        self.thoughts = []
        return raw

    def emit(self, turn: Turn) -> None:
        self.current.turns.append(turn)

    def close(self) -> None:
        if self.thoughts:  # a last thought with no action after it
            self.emit(Turn("assistant", thought=join(*self.thoughts), raw=self.pending_raw()))
        self.waiting = None
        self.after_final = False

    def next_example(self) -> None:
        self.close()
        self.examples.append(Example())


def read_trace(text: str, split_examples: bool = True) -> tuple[str, list[Example]]:
    """The header (text before the first `Question:`, e.g. a prompt's instructions) and the
    examples in a ReAct text. Without task labels, the text before the first step is the task."""
    preamble, segs = segments(text, split_examples)
    examples = TraceReader(split_examples).read(segs)
    header = ""
    if segs and segs[0].label == "task":
        header = preamble.strip()
    elif preamble.strip():
        examples[0].instruction = preamble.strip()
    return header, [e for e in examples if e.turns or e.instruction is not None]


def trace_turns(text: str) -> Example:
    """One trajectory's turns from a trace whose task is given elsewhere (an alpaca output, a chat
    message)."""
    _, examples = read_trace(text, split_examples=False)
    return examples[0] if examples else Example()


def sniff(value) -> bool:
    return isinstance(value, str) and STEP_ANY.search(value) is not None


def is_banner(text: str) -> bool:
    """A log's banner (`#####`, `BEGIN TRIAL 1`, `Trial summary: Correct: 34 ...`): about the
    file, never a prompt the model saw."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and all(BANNER_LINE.match(line) for line in lines)


def log_parts(text: str) -> list[tuple[dict, str]]:
    """A text cut at Reflexion's trial banners and outcome sections: (what the banners say, the
    text under them). A text without them is one part."""
    marks = sorted([*TRIAL.finditer(text), *SECTION.finditer(text)], key=lambda m: m.start())
    if not marks:
        return [({}, text)]
    parts, state = [({}, text[: marks[0].start()])], {}
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        state = {"trial": int(mark["n"])} if mark.re is TRIAL else {**state, "section": mark["kind"]}
        section = text[mark.end() : after.start() if after else len(text)]
        parts += [(dict(state), run) for run in agent_runs(section)]
    return parts


def agent_runs(section: str) -> list[str]:
    """A section's agents, each ending at its `Correct answer:` line: what follows that line (the
    next agent's reflections, written before its `Question:`) is the next agent's prompt."""
    cuts = [m.end() for m in REFERENCE_LINE.finditer(section)]
    return [
        section[a:b] for a, b in zip([0, *cuts], [*cuts, len(section)], strict=True) if section[a:b].strip()
    ]


def part_info(state: dict, example: Example) -> RecordInfo:
    info = RecordInfo(label=SECTION_LABELS.get(state.get("section", "")), meta=dict(state))
    if example.reference is not None:
        info.meta["correct_answer"] = example.reference
    return with_end(info, example.end)


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, str):
        raise RecordError(f"expected ReAct text, got {kind(value)}")
    found = []
    for state, text in log_parts(value):
        header, examples = read_trace(text)
        if is_banner(header):
            header = ""
        found += [(state, header, e) for e in examples if any(t.role == "assistant" for t in e.turns)]
    if not found:
        raise RecordError("no ReAct steps (Thought:/Action:/Answer:/FINISHED:) found in the text")
    single = len(found) == 1
    trajectories = []
    for n, (state, header, example) in enumerate(found, start=1):
        if example.instruction is None:
            raise RecordError(
                f"example {n}: no task (a Question:/Task: line or a paragraph) before its first step"
            )
        # A prompt name groups nothing when the prompt holds several different questions.
        task = Task(
            instruction=example.instruction, system=header or None, source_task_id=key if single else None
        )
        trajectories.append(
            make_trajectory(
                ctx,
                where if single else f"{where}, example {n}",
                task,
                example.turns,
                part_info(state, example),
                f"example {n}",
            )
        )
    return trajectories
