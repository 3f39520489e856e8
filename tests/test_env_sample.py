"""The sample environment: tools never raise, executions repeat, every task is solvable and checkable, and the
class follows the environment contract (reset, get_reward with the final answer)."""

import json
import re

import pytest

from curator.envs import sample as w
from curator.envs.sample import (
    EVAL_TASKS,
    TASKS,
    TOOL_NAMES,
    TOOLS,
    SampleEnv,
    call,
    get_task,
    mentions,
    replay,
)

GOOD_CALLS = {
    "get_weather": ({"city": "Paris", "date": "2025-07-04"}, {"city", "date", "condition", "temp_c"}),
    "search_flights": ({"origin": "Paris", "destination": "London", "date": "2025-07-02"}, {"flights"}),
    "book_flight": (
        {"flight_id": next(f for f, v in w.FLIGHTS.items() if v["seats"]), "passenger_name": "Ana Silva"},
        {"booking_id", "flight_id", "passenger_name", "status"},
    ),
    "get_booking": (
        {"booking_id": "BK1001"},
        {"booking_id", "flight_id", "passenger_name", "status", "date"},
    ),
    "cancel_booking": ({"booking_id": "BK1001"}, {"booking_id", "status"}),
    "get_order_history": ({"customer_id": "C101"}, {"customer_id", "orders"}),
    "get_order": ({"order_id": "O-5001"}, {"order_id", "item", "price_eur", "status"}),
    "request_refund": ({"order_id": "O-5001", "reason": "damaged"}, {"refund_id", "order_id", "amount_eur"}),
    "convert_currency": (
        {"amount": 100, "from_currency": "EUR", "to_currency": "USD"},
        {"amount", "currency"},
    ),
}
BAD_VALUES = {
    "get_weather": [
        {"city": "Atlantis", "date": "2025-07-04"},
        {"city": "Paris", "date": "July 4"},
        {"city": "Paris", "date": "2026-01-01"},
    ],
    "search_flights": [
        {"origin": "PAR", "destination": "London", "date": "2025-07-02"},
        {"origin": "Paris", "destination": "paris", "date": "2025-07-02"},
        {"origin": "Paris", "destination": "London", "date": "2025-7-2"},
    ],
    "book_flight": [
        {"flight_id": "XX0000", "passenger_name": "Ana"},
        {"flight_id": next(f for f, v in w.FLIGHTS.items() if v["seats"]), "passenger_name": "  "},
        {"flight_id": next(f for f, v in w.FLIGHTS.items() if not v["seats"]), "passenger_name": "Ana"},
    ],
    "get_booking": [{"booking_id": "1001"}, {"booking_id": ""}],
    "cancel_booking": [{"booking_id": "BK9999"}, {"booking_id": "BK1004"}],
    "get_order_history": [{"customer_id": "Maya Lopez"}, {"customer_id": "C999"}],
    "get_order": [{"order_id": "5001"}],
    "request_refund": [
        {"order_id": "O-9999", "reason": "damaged"},
        {"order_id": "O-5001", "reason": "broken"},
        {"order_id": "O-5003", "reason": "damaged"},
    ],
    "convert_currency": [
        {"amount": -5, "from_currency": "EUR", "to_currency": "USD"},
        {"amount": 5, "from_currency": "EUR", "to_currency": "XYZ"},
        {"amount": 10**400, "from_currency": "EUR", "to_currency": "USD"},
        {"amount": float("nan"), "from_currency": "EUR", "to_currency": "USD"},
    ],
}


def test_tool_specs_are_openai_function_specs_and_compact():
    assert [t["function"]["name"] for t in TOOLS] == list(TOOL_NAMES)
    assert len(set(TOOL_NAMES)) == len(TOOL_NAMES) >= 8
    assert set(GOOD_CALLS) == set(TOOL_NAMES)
    for spec in TOOLS:
        assert spec["type"] == "function" and spec["function"]["description"]
        params = spec["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])
        assert all(p["type"] in ("string", "number") for p in params["properties"].values())
    assert any("enum" in p for t in TOOLS for p in t["function"]["parameters"]["properties"].values())
    # The specs are rendered into a small model's prompt on every row.
    assert len(json.dumps(TOOLS, separators=(",", ":"))) < 2600  # every argument has a short description


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_good_arguments_give_a_result(name):
    arguments, keys = GOOD_CALLS[name]
    result = call(SampleEnv(), name, arguments)
    assert "error" not in result and keys <= set(result)
    assert call(SampleEnv(), name, json.dumps(arguments)) == result


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_bad_arguments_give_an_error_result_never_an_exception(name):
    good, _ = GOOD_CALLS[name]
    params = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == name)
    bad = [None, [], "x", {}, {**good, "extra": 1}]
    bad += [{k: v for k, v in good.items() if k != key} for key in params["required"]]
    bad += [{**good, key: 7 if params["properties"][key]["type"] == "string" else "7"} for key in good]
    bad += [{**good, key: True} for key in good]
    bad += BAD_VALUES[name]
    for arguments in bad:
        world = SampleEnv()
        result = call(world, name, arguments)
        assert set(result) == {"error"} and isinstance(result["error"], str), (arguments, result)
        assert world.mutations == []


def test_unknown_tool_and_malformed_json():
    world = SampleEnv()
    assert call(world, "get_forecast", {}) == {"error": "unknown tool get_forecast"}
    for raw in ('city="Paris"', "{'city': 'Paris'}", '{"city": "Paris"', "[" * 100000):
        assert call(world, "get_weather", raw) == {"error": "arguments are not valid JSON"}
    assert call(world, "get_weather", "[1]")["error"].startswith("arguments are not a JSON object")


def test_lenient_where_a_person_would_be():
    assert (
        call(SampleEnv(), "get_weather", {"city": " new  york", "date": "2025-07-03"})["city"] == "New York"
    )
    assert "error" not in call(SampleEnv(), "get_booking", {"booking_id": "bk1002"})
    assert call(
        SampleEnv(), "convert_currency", {"amount": 100, "from_currency": "eur", "to_currency": "gbp"}
    ) == {
        "amount": 85.0,
        "currency": "GBP",
    }


def test_mutations_are_per_world_and_repeatable():
    fid = GOOD_CALLS["book_flight"][0]["flight_id"]
    first, second = SampleEnv(), SampleEnv()
    calls = [
        ("book_flight", {"flight_id": fid, "passenger_name": "Ana Silva"}),
        ("cancel_booking", {"booking_id": "BK1002"}),
        ("request_refund", {"order_id": "O-5001", "reason": "late"}),
    ]
    results = [call(first, n, a) for n, a in calls]
    assert [call(second, n, a) for n, a in calls] == results
    assert first.mutations == [("book", fid, "ana silva"), ("cancel", "BK1002"), ("refund", "O-5001", "late")]
    assert SampleEnv().mutations == [] and w.BOOKINGS["BK1002"]["status"] == "confirmed"
    assert w.ORDERS["O-5001"]["status"] == "delivered"
    # A second attempt is an error, not a second change.
    assert "error" in call(first, "cancel_booking", {"booking_id": "BK1002"})
    assert "error" in call(first, "request_refund", {"order_id": "O-5001", "reason": "late"})
    assert call(first, "get_order", {"order_id": "O-5001"})["status"] == "refund_requested"


def test_booking_uses_seats():
    fid = next(f for f, v in w.FLIGHTS.items() if v["seats"] == 1)
    world = SampleEnv()
    assert "error" not in call(world, "book_flight", {"flight_id": fid, "passenger_name": "A"})
    assert call(world, "book_flight", {"flight_id": fid, "passenger_name": "B"}) == {
        "error": f"flight {fid} is full"
    }


def test_mentions():
    assert mentions("Booking BK1003 is now cancelled.", "cancel")
    assert not mentions("I successfully booked it.", w._FULL)
    assert mentions("Sorry, the flight is full.", w._FULL)
    assert mentions("That's 1,080.00 USD.", 1080.0) and mentions("Paris: 22°C", 22)
    assert not mentions("Booking BK2022 on 2025-07-22 at 22:15, order O-22", 22)


def test_task_lists():
    assert len(TASKS) >= 60 and len(EVAL_TASKS) >= 30
    ids = [t.task_id for t in TASKS + EVAL_TASKS]
    assert len(set(ids)) == len(ids)
    assert all(get_task(t.task_id) is t for t in TASKS + EVAL_TASKS)
    with pytest.raises(KeyError):
        get_task("nope")
    assert not {t.instruction for t in TASKS} & {t.instruction for t in EVAL_TASKS}


def test_eval_tasks_use_entities_no_training_task_uses():
    entity = re.compile(r"2025-\d\d-\d\d|\bBK\d+|\bC\d{3}\b|\bO-\d+|\b[A-Z]{2}\d{4}\b")
    names = set(w._TRAIN_PASSENGERS)
    train = {e for t in TASKS for e in entity.findall(t.instruction)}
    for task in EVAL_TASKS:
        assert not set(entity.findall(task.instruction)) & train, task.task_id
        assert not any(name in task.instruction for name in names), task.task_id
        for _name, arguments in task.expected_calls:
            assert not set(entity.findall(json.dumps(arguments))) & train, task.task_id


@pytest.mark.parametrize("task", TASKS + EVAL_TASKS, ids=lambda t: t.task_id)
def test_task_is_solved_by_its_expected_calls_and_only_then(task):
    world = SampleEnv()
    for name, arguments in task.expected_calls:
        assert name in TOOL_NAMES
        call(world, name, arguments)
    assert len(task.answers) >= 3 and all(task.check(world, answer) for answer in task.answers)
    assert not task.check(world, None) and not task.check(world, "  ")
    if task.wrong_answer is not None:
        assert not task.check(world, task.wrong_answer)
    assert not task.check(SampleEnv(), "I don't know.")
    if world.mutations:  # claiming the change without making it is not success
        assert not any(task.check(SampleEnv(), answer) for answer in task.answers)


def test_task_checker_refuses_an_extra_action():
    task = get_task("booking-status-01")
    world = SampleEnv()
    for name, arguments in task.expected_calls:
        call(world, name, arguments)
    call(world, "cancel_booking", {"booking_id": task.expected_calls[0][1]["booking_id"]})
    assert not task.check(world, task.answers[0])


def test_replay_reads_an_openai_conversation():
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "1",
                    "type": "function",
                    "function": {"name": "cancel_booking", "arguments": '{"booking_id": "BK1002"}'},
                },
                {"id": "2", "type": "function", "function": {"name": "nope", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "1", "content": "{}"},
        {"role": "assistant", "content": "Cancelled."},
    ]
    world, results, final = replay(messages)
    assert world.mutations == [("cancel", "BK1002")] and results[1] == {"error": "unknown tool nope"}
    assert final == "Cancelled."
    assert replay(messages[:3])[2] is None


def test_contract_reset_and_reward_score_with_the_final_answer():
    task = get_task("eval-cancel-01")
    env = SampleEnv()
    assert env.reset(task_id=task.task_id, prompt="ignored, as TRL passes the whole row") is None
    assert env.get_reward(final_answer=task.answers[0]) == 0.0  # the change was not made yet
    for name, arguments in task.expected_calls:
        getattr(env, name)(**arguments)
    assert env.get_reward(final_answer=task.answers[0]) == 1.0
    assert env.get_reward() == 0.0  # TRL's call without the answer
    env.reset(task_id=task.task_id)
    assert env.mutations == [] and env.get_reward(final_answer=task.answers[0]) == 0.0
