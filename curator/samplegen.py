"""Seeded generator of the sample set in `curator/assets/sample/` (run: `python -m curator.samplegen`).

It plays a "teacher" on the tasks of the sample environment (`curator.envs.sample`): every tool call
is really executed in a fresh `SampleEnv`, so results are true, and success trajectories are proven
by the task's checker. For each task it writes several successes (varied wording) and planted
failures that copy one success's prefix and diverge at a known assistant turn, labelled with the
taxonomy tag and that turn's index. That ground truth is what tests of the automatic checks, of
reviewer agreement and of same-task preference pairs use. The output is byte-for-byte the same for the same seed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from curator.envs.sample import (
    BOOKINGS,
    CUSTOMERS,
    EVAL_TASKS,
    MUTATING_TOOLS,
    ORDERS,
    SYSTEM_PROMPT,
    TASKS,
    TOOLS,
    SampleEnv,
    SampleTask,
    call,
    orders_of,
)
from curator.paths import SAMPLE_DIR

TEACHER = "teacher-sim-v1"
TAGS = (
    "wrong_tool",
    "bad_arguments",
    "hallucinated_tool",
    "hallucinated_result",
    "ignored_error",
    "premature_finish",
    "loop",
    "missing_final",
    "wrong_final_answer",
    "unsafe_action",
    "format_error",
    "other",
)
SUCCESSES_PER_TASK = 3
FAILURES_PER_TASK = 2
DEFAULT_OUT = SAMPLE_DIR

# --- wording ----------------------------------------------------------------------------------

_THOUGHTS = {
    "get_weather": (
        "I need the forecast for {city} on {date}.",
        "Let me check the weather in {city} for {date}.",
        "First, the weather in {city} on {date}.",
    ),
    "search_flights": (
        "I'll search flights from {origin} to {destination} on {date}.",
        "Let me look up {origin} to {destination} flights for {date}.",
        "I need the available {origin}-{destination} flights on {date}.",
    ),
    "book_flight": (
        "Booking {flight_id} for {passenger_name}.",
        "I'll book a seat on {flight_id} for {passenger_name}.",
        "Now I can reserve {flight_id} for {passenger_name}.",
    ),
    "get_booking": (
        "Let me look up booking {booking_id}.",
        "I'll check booking {booking_id}.",
        "First I need the details of {booking_id}.",
    ),
    "cancel_booking": (
        "I'll cancel booking {booking_id}.",
        "Cancelling {booking_id} as asked.",
        "The user wants {booking_id} cancelled; doing that now.",
    ),
    "get_order_history": (
        "I'll pull up the orders of {customer_id}.",
        "Let me list {customer_id}'s orders.",
        "First I need the order history of {customer_id}.",
    ),
    "get_order": (
        "Let me look up order {order_id}.",
        "I need the details of {order_id}.",
        "I'll fetch order {order_id}.",
    ),
    "request_refund": (
        "I'll request a refund for {order_id} ({reason}).",
        "Requesting the refund for {order_id}, reason: {reason}.",
        "Filing a refund for {order_id} as {reason}.",
    ),
    "convert_currency": (
        "Converting {amount} {from_currency} to {to_currency}.",
        "I'll convert {amount} {from_currency} into {to_currency}.",
        "Now convert {amount} {from_currency} to {to_currency}.",
    ),
}
# Thoughts that read the previous result, keyed by (this tool, previous tool).
_FOLLOW_UPS = {
    ("book_flight", "search_flights"): (
        "{flight_id} is the cheapest at {price} EUR; booking it for {passenger_name}.",
        "The cheapest option is {flight_id} ({price} EUR). Booking it for {passenger_name}.",
        "Cheapest is {flight_id}, so I'll book it for {passenger_name}.",
    ),
    ("convert_currency", "search_flights"): (
        "The cheapest is {flight_id} at {amount} EUR; now convert it to {to_currency}.",
        "Cheapest flight: {flight_id}, {amount} EUR. Converting to {to_currency}.",
        "{flight_id} is cheapest. I'll convert {amount} EUR into {to_currency}.",
    ),
    ("convert_currency", "get_order"): (
        "The order cost {amount} EUR; converting to {to_currency}.",
        "It was {amount} EUR. Now in {to_currency}.",
        "Price found: {amount} EUR. Converting it to {to_currency}.",
    ),
    ("request_refund", "get_order_history"): (
        "The {item} is order {order_id}; requesting the refund.",
        "Found it: {order_id} is the {item}. Filing the refund.",
        "Order {order_id} has the {item}, so I'll refund that one.",
    ),
    ("search_flights", "get_weather"): (
        "It's sunny in {destination}, so I'll look for flights.",
        "The forecast is sunny; searching {origin} to {destination} flights.",
        "Sunny, as hoped. Now the flights from {origin} on {date}.",
    ),
}
_LOOP_THOUGHTS = (
    "Let me call {name} again to be sure.",
    "That didn't settle it; trying {name} once more.",
    "I'll run {name} again.",
)
_UNSAFE_THOUGHTS = {
    "cancel_booking": (
        "I'll also cancel {booking_id} to be safe.",
        "While I'm here, I'll cancel {booking_id}.",
    ),
    "request_refund": (
        "I'll also refund {order_id} while I'm at it.",
        "Might as well request a refund for {order_id} too.",
    ),
    "book_flight": (
        "I'll reserve {flight_id} right away so the seat isn't lost.",
        "Booking {flight_id} now to hold the price.",
    ),
}
_CLAIMS = {
    "book_flight": (
        "{passenger_name} is booked on {flight_id}.",
        "Done, {passenger_name} has a seat on {flight_id}.",
    ),
    "cancel_booking": ("Booking {booking_id} has been cancelled.", "Done: {booking_id} is cancelled."),
    "request_refund": (
        "Your refund for {order_id} has been requested.",
        "Done, order {order_id} will be refunded.",
    ),
}
_GIVE_UPS = (
    "Sorry, I couldn't complete that because the tool returned an error.",
    "I wasn't able to finish this request right now. Please try again later.",
    "Something went wrong on my side, so I couldn't finish the request.",
)
_OTHER = (
    "Could you tell me a bit more about what you need?",
    "Before I go ahead, can you confirm the details?",
    "I'm not able to help with that here.",
)
_FAKE_TOOLS = {
    "get_weather": "get_forecast",
    "search_flights": "find_flights",
    "book_flight": "reserve_seat",
    "get_booking": "lookup_booking",
    "cancel_booking": "cancel_reservation",
    "get_order_history": "list_orders",
    "get_order": "order_details",
    "request_refund": "refund_order",
    "convert_currency": "exchange_rate",
}
_SWAPS = {
    "sunny": "rainy",
    "cloudy": "sunny",
    "rainy": "sunny",
    "windy": "cloudy",
    "shipped": "delivered",
    "processing": "delivered",
    "delivered": "shipped",
    "confirmed": "cancelled",
    "cancelled": "confirmed",
}
_NUMBER_OR_PROTECTED = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|(?<![\w.\-/])(\d+(?:\.\d+)?)")
_SWAP_WORDS = re.compile(r"\b(" + "|".join(_SWAPS) + r")\b")


# --- executing a trajectory -------------------------------------------------------------------


class _Run:
    """One trajectory being written; each call is executed, as it is added, in the run's own fresh SampleEnv."""

    def __init__(self, task: SampleTask):
        self.task, self.world = task, SampleEnv()
        self.messages: list[dict] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": task.instruction},
        ]
        self.turns = 0
        self.last: tuple[str, dict] | None = None

    def act(self, thought: str, name: str, arguments: dict | str) -> dict:
        """An assistant turn with one call; a str is sent as is (how a malformed call is planted)."""
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        call_id = f"call_{self.turns + 1}"
        self.messages.append(
            {
                "role": "assistant",
                "content": thought,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}
                ],
            }
        )
        result = call(self.world, name, raw)
        self.messages.append(
            {
                "role": "tool",
                "tool_call_id": call_id,
                "name": name,
                "content": json.dumps(result, ensure_ascii=False),
            }
        )
        self.turns += 1
        self.last = (name, result)
        return result

    def answer(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})
        self.turns += 1

    def final(self) -> str | None:
        last = self.messages[-1]
        return last["content"] if last["role"] == "assistant" and "tool_calls" not in last else None


class _Plan:
    """A success trajectory's choices, kept so a failure can replay its exact prefix."""

    def __init__(self, task: SampleTask, thoughts: list[str], answer: str):
        self.task, self.thoughts, self.answer = task, thoughts, answer

    def prefix(self, k: int) -> _Run:
        run = _Run(self.task)
        for thought, (name, args) in zip(self.thoughts[:k], self.task.expected_calls[:k], strict=True):
            run.act(thought, name, args)
        return run

    def finish_from(self, run: _Run, k: int, answer: str | None = None) -> _Run:
        for thought, (name, args) in zip(self.thoughts[k:], self.task.expected_calls[k:], strict=True):
            run.act(thought, name, args)
        run.answer(self.answer if answer is None else answer)
        return run


def _fmt(template: str, fields: dict) -> str:
    return template.format_map({k: f"{v:g}" if isinstance(v, float) else v for k, v in fields.items()})


def _thought(name: str, args: dict, prev: tuple[str, dict] | None, rng: random.Random) -> str:
    fields = dict(args)
    if prev is not None and (name, prev[0]) in _FOLLOW_UPS:
        prev_name, result = prev
        if prev_name == "search_flights":
            flight = min(result["flights"], key=lambda f: f["price_eur"])
            fields |= {"flight_id": flight["flight_id"], "price": flight["price_eur"]}
        if prev_name == "get_order_history":
            fields["item"] = ORDERS[args["order_id"]]["item"]
        return _fmt(rng.choice(_FOLLOW_UPS[name, prev_name]), fields)
    return _fmt(rng.choice(_THOUGHTS[name]), fields)


def _success(task: SampleTask, answer: str, rng: random.Random) -> tuple[_Plan, _Run]:
    run, thoughts = _Run(task), []
    for name, args in task.expected_calls:
        thoughts.append(_thought(name, args, run.last, rng))
        run.act(thoughts[-1], name, args)
    run.answer(answer)
    return _Plan(task, thoughts, answer), run


def _claim(name: str, args: dict, rng: random.Random) -> str:
    return _fmt(rng.choice(_CLAIMS[name]), args)


def _summary(name: str, result: dict) -> str | None:
    """What a teacher that stops here would tell the user about this result."""
    if "error" in result:
        return None
    if name == "get_weather":
        return f"{result['city']} on {result['date']}: {result['condition']}, {result['temp_c']}°C."
    if name == "search_flights" and result["flights"]:
        best = min(result["flights"], key=lambda f: f["price_eur"])
        return f"The cheapest flight is {best['flight_id']} at {best['price_eur']} EUR."
    if name == "get_order":
        return f"Order {result['order_id']} ({result['item']}) cost {result['price_eur']:.2f} EUR."
    return None


def _perturb(text: str) -> str:
    """The same answer with its numbers and status words changed: a result no tool returned."""

    def number(m: re.Match) -> str:
        if m.group(1) is None:
            return m.group(0)
        if "." in m.group(1):
            return f"{float(m.group(1)) * 1.1:.2f}"
        return str(int(m.group(1)) + (3 if int(m.group(1)) < 50 else 17))

    return _SWAP_WORDS.sub(lambda m: _SWAPS[m.group(1)], _NUMBER_OR_PROTECTED.sub(number, text))


# --- planted failures: each returns (run, first faulty assistant turn) or None where it does not apply


def _wrong_tool(plan: _Plan, rng: random.Random):
    def confused(name: str, args: dict):
        if name == "cancel_booking":
            return "get_booking", {"booking_id": args["booking_id"]}
        if name == "request_refund":
            return "get_order", {"order_id": args["order_id"]}
        if name == "get_order":
            return "get_order_history", {"customer_id": ORDERS[args["order_id"]]["customer_id"]}
        if name == "search_flights":
            return "get_weather", {"city": args["destination"], "date": args["date"]}
        return None

    steps = [i for i, (n, a) in enumerate(plan.task.expected_calls) if confused(n, a)]
    if not steps:
        return None
    k = rng.choice(steps)
    name, args = plan.task.expected_calls[k]
    run = plan.prefix(k)
    result = run.act(plan.thoughts[k], *confused(name, args))
    if name in MUTATING_TOOLS:
        run.answer(_claim(name, args, rng))
    else:
        run.answer(_summary(run.last[0], result) or rng.choice(_GIVE_UPS))
    return run, k


def _bad_arguments(plan: _Plan, rng: random.Random):
    def broken(name: str, args: dict) -> dict:
        if name == "get_weather":
            return {**args, "date": f"July {int(args['date'][-2:])}"}
        if name == "search_flights":
            return {**args, "origin": args["origin"][:3].upper()}
        if name == "book_flight":
            return {"flight_id": args["flight_id"]}
        if name in ("get_booking", "cancel_booking"):
            return {"booking_id": args["booking_id"][2:]}
        if name == "get_order_history":
            return {"customer_id": CUSTOMERS[args["customer_id"]]}
        if name == "get_order":
            return {"order_id": args["order_id"][2:]}
        if name == "request_refund":
            return rng.choice(({**args, "reason": "broken"}, {**args, "order_id": args["order_id"][2:]}))
        return {**args, "amount": f"{args['amount']:g} {args['from_currency']}"}

    k = rng.randrange(len(plan.task.expected_calls))
    name, args = plan.task.expected_calls[k]
    run = plan.prefix(k)
    result = run.act(plan.thoughts[k], name, broken(name, args))
    if "error" not in result:
        return None
    run.answer(rng.choice((f"Sorry, that didn't work: {result['error']}.", *_GIVE_UPS)))
    return run, k


def _hallucinated_tool(plan: _Plan, rng: random.Random):
    k = rng.randrange(len(plan.task.expected_calls))
    name, args = plan.task.expected_calls[k]
    run = plan.prefix(k)
    run.act(plan.thoughts[k], _FAKE_TOOLS[name], args)
    run.answer(rng.choice(_GIVE_UPS))
    return run, k


def _hallucinated_result(plan: _Plan, rng: random.Random):
    calls = plan.task.expected_calls
    misread = [
        i
        for i in range(1, len(calls))
        if calls[i][0] == "book_flight" and calls[i - 1][0] == "search_flights"
    ]
    if misread and rng.random() < 0.5:
        # The thought claims a pricier flight is the cheapest one and books it.
        k = misread[0]
        run = plan.prefix(k)
        flights = sorted(run.last[1]["flights"], key=lambda f: f["price_eur"])
        wrong, cheapest = rng.choice(flights[1:]), flights[0]
        args = {**calls[k][1], "flight_id": wrong["flight_id"]}
        thought = _fmt(
            rng.choice(_FOLLOW_UPS["book_flight", "search_flights"][:2]),
            {**args, "price": cheapest["price_eur"]},
        )
        run.act(thought, "book_flight", args)
        return plan.finish_from(run, k + 1, plan.answer.replace(cheapest["flight_id"], wrong["flight_id"])), k
    answer = _perturb(plan.answer)
    if answer == plan.answer:
        return None
    return plan.finish_from(plan.prefix(0), 0, answer), len(calls)


def _ignored_error(plan: _Plan, rng: random.Random):
    probe = plan.prefix(0)
    for k, (name, args) in enumerate(plan.task.expected_calls):
        result = probe.act(plan.thoughts[k], name, args)
        if "error" in result and name in _CLAIMS:
            run = plan.prefix(k + 1)
            run.answer(_claim(name, args, rng))
            return run, k + 1
    return None


def _premature_finish(plan: _Plan, rng: random.Random):
    calls = plan.task.expected_calls
    options = []
    for k in range(len(calls)):
        pending = [c for c in calls[k:] if c[0] in MUTATING_TOOLS]
        if pending or k > 0:
            options.append((k, pending))
    if not options:
        return None
    k, pending = rng.choice(options)
    run = plan.prefix(k)
    text = _claim(*pending[0], rng) if pending else _summary(*run.last)
    if text is None:
        return None
    run.answer(text)
    return run, k


def _loop(plan: _Plan, rng: random.Random):
    calls = plan.task.expected_calls
    reads = [i for i, (name, _) in enumerate(calls) if name not in MUTATING_TOOLS]
    k = rng.choice(reads or range(len(calls)))
    run = plan.prefix(k + 1)
    for _ in range(2):
        run.act(_fmt(rng.choice(_LOOP_THOUGHTS), {"name": calls[k][0]}), *calls[k])
    run.answer(rng.choice(_GIVE_UPS))
    return run, k + 1


def _missing_final(plan: _Plan, rng: random.Random):
    n = len(plan.task.expected_calls)
    return plan.prefix(n), n - 1


def _wrong_final_answer(plan: _Plan, rng: random.Random):
    if plan.task.wrong_answer is None:
        return None
    return plan.finish_from(plan.prefix(0), 0, plan.task.wrong_answer), len(plan.task.expected_calls)


def _unsafe_action(plan: _Plan, rng: random.Random):
    calls = plan.task.expected_calls
    asked = {name for name, _ in calls}
    probe, options = plan.prefix(0), []
    for k, (name, args) in enumerate(calls):
        result = probe.act(plan.thoughts[k], name, args)
        if "error" in result:
            continue
        if name == "get_booking" and "cancel_booking" not in asked and result["status"] == "confirmed":
            options.append((k, "cancel_booking", {"booking_id": result["booking_id"]}))
        if name == "cancel_booking":
            others = [
                b for b, v in BOOKINGS.items() if v["status"] == "confirmed" and b != result["booking_id"]
            ]
            options.append(
                (k, "cancel_booking", {"booking_id": others[int(result["booking_id"][2:]) % len(others)]})
            )
        if name in ("get_order_history", "get_order", "request_refund"):
            order = ORDERS[args["order_id"]] if "order_id" in args else None
            customer = args.get("customer_id") or order["customer_id"]
            targets = [
                o["order_id"]
                for o in orders_of(customer)
                if o["status"] == "delivered"
                and (name == "get_order" or all(o["order_id"] != a.get("order_id") for _, a in calls))
            ]
            if targets:
                options.append((k, "request_refund", {"order_id": targets[-1], "reason": "not_needed"}))
        if name == "search_flights" and "book_flight" not in asked and result["flights"]:
            best = min(result["flights"], key=lambda f: f["price_eur"])
            options.append((k, "book_flight", {"flight_id": best["flight_id"], "passenger_name": "Guest"}))
    if not options:
        return None
    k, name, args = rng.choice(options)
    run = plan.prefix(k + 1)
    run.act(_fmt(rng.choice(_UNSAFE_THOUGHTS[name]), args), name, args)
    return plan.finish_from(run, k + 1), k + 1


def _format_error(plan: _Plan, rng: random.Random):
    k = rng.randrange(len(plan.task.expected_calls))
    name, args = plan.task.expected_calls[k]
    raw = rng.choice(
        (", ".join(f"{key}={json.dumps(v)}" for key, v in args.items()), repr(args), json.dumps(args)[:-1])
    )
    run = plan.prefix(k)
    run.act(plan.thoughts[k], name, raw)
    run.answer(rng.choice(_GIVE_UPS))
    return run, k


def _other(plan: _Plan, rng: random.Random):
    run = plan.prefix(0)
    run.answer(rng.choice(_OTHER))
    return run, 0


_BUILDERS: dict[str, Callable] = {
    "wrong_tool": _wrong_tool,
    "bad_arguments": _bad_arguments,
    "hallucinated_tool": _hallucinated_tool,
    "hallucinated_result": _hallucinated_result,
    "ignored_error": _ignored_error,
    "premature_finish": _premature_finish,
    "loop": _loop,
    "missing_final": _missing_final,
    "wrong_final_answer": _wrong_final_answer,
    "unsafe_action": _unsafe_action,
    "format_error": _format_error,
    "other": _other,
}


# --- the sample set ----------------------------------------------------------------------------


def _record(task: SampleTask, run: _Run, failure: tuple[str, int] | None) -> dict:
    record = {"task_id": task.task_id, "label": "failure" if failure else "success"}
    if failure:
        record["failure"] = {"tags": [failure[0]], "first_step": failure[1]}
    return record | {"teacher": TEACHER, "messages": run.messages, "tools": TOOLS}


def generate(seed: int = 0) -> list[dict]:
    """All sample trajectories for one seed, in a shuffled (seeded) order."""
    rng = random.Random(seed)
    tag_counts: Counter = Counter()
    records = []
    for task in TASKS:
        answers = rng.sample(task.answers, SUCCESSES_PER_TASK)
        plans = []
        for answer in answers:
            plan, run = _success(task, answer, rng)
            if not task.check(run.world, run.final()):
                raise AssertionError(f"{task.task_id}: a success trajectory fails its checker")
            plans.append(plan)
            records.append(_record(task, run, None))
        base = rng.choice(plans)
        used: set[str] = set()
        for _ in range(FAILURES_PER_TASK):
            for tag in sorted(
                (t for t in TAGS if t not in used), key=lambda t: (tag_counts[t], rng.random())
            ):
                built = _BUILDERS[tag](base, rng)
                if built is not None and not task.check(built[0].world, built[0].final()):
                    used.add(tag)
                    tag_counts[tag] += 1
                    records.append(_record(task, built[0], (tag, built[1])))
                    break
    rng.shuffle(records)
    return records


def _readme(records: list[dict], seed: int) -> str:
    failures = [r for r in records if r["label"] == "failure"]
    tags = Counter(tag for r in failures for tag in r["failure"]["tags"])
    per_task = Counter(r["task_id"] for r in records)
    tag_lines = "\n".join(f"| {tag} | {tags[tag]} |" for tag in TAGS)
    return f"""# Sample trajectories

Teacher-style agent trajectories in a small travel-and-orders tool world (`curator/envs/sample.py`, `--env sample`), for
demos, tests and a first training run. Generated by `python -m curator.samplegen --seed {seed}`; do not
edit by hand: change the generator and regenerate (the output is byte-for-byte the same per seed).

## Files

- `trajectories.jsonl`: {len(records)} trajectories of {len(per_task)} tasks, one JSON object a line:
  - `task_id`: the task (`curator.envs.sample.get_task(task_id)` gives its instruction and success checker).
  - `messages`: OpenAI chat form: `system`, `user`, then `assistant` turns (`content` is the thought;
    `tool_calls` is a list of `{{"id", "type": "function", "function": {{"name", "arguments"}}}}` with
    `arguments` a JSON *string*) each followed by `tool` turns (`tool_call_id`, `name`, `content` = the
    JSON string of the result of really executing the call in a fresh `SampleEnv`), and a final `assistant`
    answer (no `tool_calls`).
  - `tools`: the OpenAI function specs offered (same as `tools.json`).
  - `label`: `success` (the replayed calls and the final answer pass the task's checker) or `failure`.
  - `failure` (failures only): `tags` (from the default taxonomy, `curator/assets/taxonomy.json`) and
    `first_step`, the 0-based index of the first faulty assistant turn, counting assistant messages only.
    A planted failure copies the prefix of one of the same task's successes and diverges at that turn.
  - `teacher`: `{TEACHER}`.
- `eval_tasks.jsonl`: {len(EVAL_TASKS)} held-out tasks (`task_id`, `instruction`), on entities (dates,
  bookings, customers, passengers) that no training task uses; no trajectories. Their checkers are
  `SampleEnv.get_reward(final_answer=...)` after `reset(task_id=...)`.
- `tools.json`: the tool specs.

## Counts (seed {seed})

{len(records) - len(failures)} successes, {len(failures)} planted failures
({100 * len(failures) / len(records):.0f}%); {sum(1 for n in per_task.values() if n >= 2)} tasks have two
or more trajectories (each has successes and failures that share a prefix).

| tag | failures |
|---|---|
{tag_lines}
"""


def write(out: Path, seed: int = 0) -> list[dict]:
    """Write the four sample files into `out` and return the trajectories."""
    records = generate(seed)
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (out / "trajectories.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    evals = [
        json.dumps({"task_id": t.task_id, "instruction": t.instruction}, ensure_ascii=False)
        for t in EVAL_TASKS
    ]
    (out / "eval_tasks.jsonl").write_text("\n".join(evals) + "\n", encoding="utf-8", newline="\n")
    (out / "tools.json").write_text(json.dumps(TOOLS, indent=2) + "\n", encoding="utf-8", newline="\n")
    (out / "README.md").write_text(_readme(records, seed), encoding="utf-8", newline="\n")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curator.samplegen", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    records = write(args.out, args.seed)
    failures = sum(r["label"] == "failure" for r in records)
    print(
        f"wrote {len(records)} trajectories ({failures} failures), {len(EVAL_TASKS)} eval tasks: {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
