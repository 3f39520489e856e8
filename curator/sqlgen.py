"""Seeded generator of the SQL environment's files in `curator/assets/sql/` (run: `python -m curator.sqlgen`).

It writes the shop database as a SQL script (`shop.sql`, built into a fresh in-memory DuckDB by every `SqlEnv`),
the tasks with their gold SQL and gold answers (`tasks.jsonl`: questions made from templates, training and
held-out tasks on different parameters, questions whose answer would be a tie left out), and teacher-style
trajectories on the training tasks (`trajectories.jsonl`): every call really executed in a fresh `SqlEnv`,
successes proven by `get_reward`, planted failures labelled with their taxonomy tag and first faulty step, as
the sample set does. The output is byte-for-byte the same for the same seed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
from pathlib import Path

from curator.envs.contract import call_tool, result_text, tool_schemas
from curator.envs.sql import SYSTEM_PROMPT, SqlEnv
from curator.paths import SQL_DIR

TEACHER = "teacher-sim-sql-v1"
COUNTRIES = ("Germany", "France", "Spain", "Italy", "Netherlands", "Sweden", "Poland", "Portugal")
CATEGORIES = ("electronics", "books", "kitchen", "garden", "toys", "sports")
_NOUNS = {
    "electronics": ("Headphones", "Speaker", "Charger", "Webcam", "Monitor"),
    "books": ("Atlas", "Cookbook", "Novel", "Guide", "Anthology"),
    "kitchen": ("Kettle", "Blender", "Toaster", "Skillet", "Grinder"),
    "garden": ("Hose", "Planter", "Rake", "Sprinkler", "Shears"),
    "toys": ("Puzzle", "Robot", "Kite", "Blocks", "Yo-yo"),
    "sports": ("Racket", "Helmet", "Yoga Mat", "Dumbbell", "Jump Rope"),
}
_ADJECTIVES = ("Classic", "Smart", "Compact", "Deluxe", "Eco")
_FIRST = ("Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karin", "Lars")
_LAST = ("Meyer", "Dubois", "Garcia", "Rossi", "de Vries", "Lund", "Nowak", "Silva")
STATUSES = ("delivered", "delivered", "delivered", "shipped", "cancelled", "returned")
TIERS = ("basic", "plus", "pro")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
TRAIN_SHARE = 0.55


def _sql_value(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def database(rng: random.Random) -> str:
    """The shop database as one SQL script."""
    products = []
    for category in CATEGORIES:
        for i, noun in enumerate(_NOUNS[category]):
            name = f"{_ADJECTIVES[(i + len(category)) % len(_ADJECTIVES)]} {noun}"
            products.append((len(products) + 1, name, category, round(rng.uniform(4, 250), 2)))
    customers = []
    for i in range(64):
        name = f"{_FIRST[i % len(_FIRST)]} {_LAST[(i * 5 + i // len(_FIRST)) % len(_LAST)]}"
        signup = datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(366))
        customers.append((i + 1, name, rng.choice(COUNTRIES), signup.isoformat(), rng.choice(TIERS)))
    orders, items = [], []
    for i in range(420):
        day = datetime.date(2025, 1, 1) + datetime.timedelta(days=rng.randrange(365))
        orders.append((1000 + i, rng.randrange(1, len(customers) + 1), day.isoformat(), rng.choice(STATUSES)))
        for product in rng.sample(range(1, len(products) + 1), rng.randint(1, 3)):
            items.append((1000 + i, product, rng.randint(1, 4)))
    tables = (
        (
            "customers",
            "customer_id INTEGER PRIMARY KEY, name VARCHAR, country VARCHAR, signup_date DATE, tier VARCHAR",
            customers,
        ),
        (
            "products",
            "product_id INTEGER PRIMARY KEY, name VARCHAR, category VARCHAR, price DECIMAL(8,2)",
            products,
        ),
        (
            "orders",
            "order_id INTEGER PRIMARY KEY, customer_id INTEGER, order_date DATE, status VARCHAR",
            orders,
        ),
        ("order_items", "order_id INTEGER, product_id INTEGER, quantity INTEGER", items),
    )
    parts = []
    for name, columns, rows in tables:
        values = ",\n".join("(" + ", ".join(_sql_value(v) for v in row) + ")" for row in rows)
        parts.append(f"CREATE TABLE {name} ({columns});\nINSERT INTO {name} VALUES\n{values};\n")
    return "\n".join(parts)


_REVENUE = "SUM(i.quantity * p.price)"
_JOIN = "FROM orders o JOIN order_items i USING (order_id) JOIN products p USING (product_id)"

# (family, question, gold SQL, answer sentence, parameter source, tie check: the answer is a top-1 of a ranking)
TEMPLATES = (
    (
        "customers-country",
        "How many customers are from {p}?",
        "SELECT count(*) FROM customers WHERE country = '{p}'",
        "{0} customers are from {p}.",
        "countries",
    ),
    (
        "products-category",
        "How many products are in the {p} category?",
        "SELECT count(*) FROM products WHERE category = '{p}'",
        "There are {0} products in {p}.",
        "categories",
    ),
    (
        "priciest-product",
        "What is the most expensive product in the {p} category, and what does it cost?",
        "SELECT name, price FROM products WHERE category = '{p}' ORDER BY price DESC, name LIMIT 2",
        "The most expensive {p} product is the {0} at {1}.",
        "categories",
    ),
    (
        "avg-price",
        "What is the average price of {p} products, rounded to the cent?",
        "SELECT round(avg(price), 2) FROM products WHERE category = '{p}'",
        "The average {p} price is {0}.",
        "categories",
    ),
    (
        "signups-month",
        "How many customers signed up in {p} 2024?",
        (
            "SELECT count(*) FROM customers WHERE signup_date >= DATE '2024-{m:02d}-01' "
            "AND signup_date < DATE '2024-{m:02d}-01' + INTERVAL 1 MONTH"
        ),
        "{0} customers signed up in {p} 2024.",
        "months",
    ),
    (
        "orders-delivered-month",
        "How many orders placed in {p} 2025 were delivered?",
        "SELECT count(*) FROM orders WHERE status = 'delivered' AND month(order_date) = {m}",
        "{0} orders placed in {p} 2025 were delivered.",
        "months",
    ),
    (
        "revenue-month",
        "What was the revenue (quantity times unit price) of delivered orders placed in {p} 2025?",
        f"SELECT round({_REVENUE}, 2) {_JOIN} WHERE o.status = 'delivered' AND month(o.order_date) = {{m}}",
        "Delivered orders from {p} 2025 brought in {0}.",
        "months",
    ),
    (
        "top-customer-country",
        "Which customer from {p} placed the most orders, and how many?",
        (
            "SELECT c.name, count(*) AS n FROM orders o JOIN customers c USING (customer_id) "
            "WHERE c.country = '{p}' GROUP BY c.customer_id, c.name ORDER BY n DESC, c.name LIMIT 2"
        ),
        "{0} placed the most orders from {p}: {1}.",
        "countries",
    ),
    (
        "best-seller-category",
        "Which {p} product sold the most units in delivered orders, and how many units?",
        (
            f"SELECT p.name, SUM(i.quantity) AS units {_JOIN} WHERE o.status = 'delivered' AND p.category = '{{p}}' "
            "GROUP BY p.product_id, p.name ORDER BY units DESC, p.name LIMIT 2"
        ),
        "The best-selling {p} product is the {0}, with {1} units.",
        "categories",
    ),
    (
        "customer-orders",
        "How many orders has the customer with id {p} placed?",
        "SELECT count(*) FROM orders WHERE customer_id = {p}",
        "Customer {p} placed {0} orders.",
        "customer_ids",
    ),
    (
        "tier-revenue",
        "What is the revenue of delivered orders from {p}-tier customers?",
        (
            f"SELECT round({_REVENUE}, 2) {_JOIN} JOIN customers c ON c.customer_id = o.customer_id "
            "WHERE o.status = 'delivered' AND c.tier = '{p}'"
        ),
        "Delivered orders of {p}-tier customers brought in {0}.",
        "tiers",
    ),
    (
        "returned-country",
        "How many orders from customers in {p} were returned?",
        (
            "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) "
            "WHERE o.status = 'returned' AND c.country = '{p}'"
        ),
        "{0} orders from {p} were returned.",
        "countries",
    ),
)
_PARAMS = {
    "countries": COUNTRIES,
    "categories": CATEGORIES,
    "months": MONTHS[:10],
    "customer_ids": tuple(str(i) for i in (3, 11, 17, 24, 30, 38, 45, 52)),
    "tiers": TIERS,
}


def _gold(env: SqlEnv, sql: str) -> list | None:
    """The gold values of a question: the first row; None for a ranking whose top two tie."""
    result = env.run_sql(sql)
    if "error" in result:
        raise AssertionError(f"gold SQL fails: {sql}: {result['error']}")
    rows = result["rows"]
    if len(rows) > 1 and rows[0][-1] == rows[1][-1]:
        return None
    return [round(v, 2) if isinstance(v, float) else v for v in rows[0]]


def tasks(script: Path) -> list[dict]:
    """Every task row: id, prompt, split, gold SQL and gold answer, and the sentence a teacher answers with."""
    env, rows = SqlEnv(script), []
    for family, question, sql, sentence, source in TEMPLATES:
        made = []
        for p in _PARAMS[source]:
            m = MONTHS.index(p) + 1 if source == "months" else 0
            gold_sql = sql.format(p=p, m=m)
            answer = _gold(env, gold_sql)
            if answer is not None:
                made.append((p, gold_sql, answer, sentence))
        n_train = round(len(made) * TRAIN_SHARE)
        for k, (p, gold_sql, answer, sentence) in enumerate(made):
            split, number = ("train", k + 1) if k < n_train else ("eval", k + 1 - n_train)
            rows.append(
                {
                    "id": f"{'' if split == 'train' else 'eval-'}{family}-{number:02d}",
                    "prompt": question.format(p=p),
                    "split": split,
                    "gold_sql": gold_sql,
                    "answer": answer,
                    "reference_answer": sentence.format(*[_fmt(v) for v in answer], p=p),
                }
            )
    return rows


def _fmt(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


class _Run:
    """One trajectory being written, each call executed in the run's own fresh SqlEnv."""

    def __init__(self, task: dict, tools: list[dict], script: Path):
        self.env, self.specs = SqlEnv(script), {t["function"]["name"]: t["function"] for t in tools}
        self.env.reset(answer=task["answer"])
        self.messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": task["prompt"]},
        ]

    def act(self, thought: str, name: str, arguments: dict) -> dict:
        call_id = f"call_{sum(m['role'] == 'assistant' for m in self.messages) + 1}"
        raw = json.dumps(arguments, ensure_ascii=False)
        self.messages.append(
            {
                "role": "assistant",
                "content": thought,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}
                ],
            }
        )
        result = call_tool(self.env, self.specs, name, arguments)
        self.messages.append(
            {"role": "tool", "tool_call_id": call_id, "name": name, "content": result_text(result)}
        )
        return result

    def answer(self, text: str) -> float:
        self.messages.append({"role": "assistant", "content": text})
        return self.env.get_reward(final_answer=text)


def _main_table(sql: str) -> str:
    return sql.split(" FROM ")[1].split()[0]


def _success(task: dict, tools: list[dict], script: Path, explore: bool) -> _Run:
    run = _Run(task, tools, script)
    if explore:
        run.act("Let me see which tables there are.", "list_tables", {})
        table = _main_table(task["gold_sql"])
        run.act(f"I'll check the columns of {table}.", "describe_table", {"table": table})
    run.act("Now I can write the query.", "run_sql", {"query": task["gold_sql"]})
    if run.answer(task["reference_answer"]) < 1.0:
        raise AssertionError(f"{task['id']}: a success trajectory fails get_reward")
    return run


def _wrong(value):
    return round(value * 1.1 + 1, 2) if isinstance(value, (int, float)) else "Classic Widget"


def _failure(task: dict, tools: list[dict], script: Path, kind: str) -> tuple[_Run, list[str], int]:
    """A planted failure of one kind: the run, its taxonomy tags, and the first faulty assistant turn."""
    run = _Run(task, tools, script)
    wrong = task["reference_answer"]
    for value in task["answer"]:
        wrong = wrong.replace(_fmt(value), _fmt(_wrong(value)))
    if kind == "ignored_error":
        table = _main_table(task["gold_sql"])
        run.act("I'll query it directly.", "run_sql", {"query": f"SELECT total FROM {table} LIMIT 5"})
        run.answer(wrong)
        return run, ["ignored_error"], 1
    if kind == "wrong_final_answer":
        run.act("Now I can write the query.", "run_sql", {"query": task["gold_sql"]})
        run.answer(wrong)
        return run, ["wrong_final_answer"], 1
    run.answer(wrong)  # answers from nowhere, without looking at the data
    return run, ["hallucinated_result"], 0


FAILURE_KINDS = ("ignored_error", "wrong_final_answer", "hallucinated_result")


def trajectories(task_rows: list[dict], tools: list[dict], script: Path, rng: random.Random) -> list[dict]:
    records = []
    for k, task in enumerate(t for t in task_rows if t["split"] == "train"):
        common = {"task_id": task["id"], "teacher": TEACHER, "tools": tools}
        for explore in (True, False):
            run = _success(task, tools, script, explore)
            records.append({**common, "label": "success", "reward": 1.0, "messages": run.messages})
        run, tags, step = _failure(task, tools, script, FAILURE_KINDS[k % len(FAILURE_KINDS)])
        if run.env.get_reward(final_answer=run.messages[-1]["content"]) >= 1.0:
            raise AssertionError(f"{task['id']}: a planted failure passes get_reward")
        records.append(
            {
                **common,
                "label": "failure",
                "reward": 0.0,
                "failure": {"tags": tags, "first_step": step},
                "messages": run.messages,
            }
        )
    rng.shuffle(records)
    return records


def write(out: Path, seed: int = 0) -> dict:
    """Write shop.sql, tasks.jsonl, trajectories.jsonl and README.md into `out`; return the counts."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shop.sql").write_text(database(rng), encoding="utf-8", newline="\n")
    script = out / "shop.sql"  # the database just written
    rows = tasks(script)
    tools = tool_schemas(SqlEnv(script), "curator.envs.sql")
    records = trajectories(rows, tools, script, rng)
    lines = [
        json.dumps({k: v for k, v in r.items() if k != "reference_answer"}, ensure_ascii=False) for r in rows
    ]
    (out / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (out / "trajectories.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    counts = {
        "train_tasks": sum(r["split"] == "train" for r in rows),
        "eval_tasks": sum(r["split"] == "eval" for r in rows),
        "trajectories": len(records),
        "failures": sum(r["label"] == "failure" for r in records),
    }
    (out / "README.md").write_text(_readme(counts, seed), encoding="utf-8", newline="\n")
    return counts


def _readme(counts: dict, seed: int) -> str:
    return f"""# SQL analytics environment files

Written by `python -m curator.sqlgen --seed {seed}`; do not edit by hand (the output is byte-for-byte the same
per seed). Used by `curator.envs.sql.SqlEnv` (`--env sql`).

- `shop.sql`: the shop database (customers, products, orders, order_items) as a DuckDB SQL script; every
  environment instance builds it into its own in-memory database.
- `tasks.jsonl`: {counts["train_tasks"]} training and {counts["eval_tasks"]} held-out tasks (`split`), one a line:
  `id`, `prompt` (the question), `gold_sql`, `answer` (the gold values the final answer must state;
  `SqlEnv.reset(answer=...)` takes them). Held-out tasks ask the same kinds of question on other parameters.
- `trajectories.jsonl`: {counts["trajectories"]} teacher-style trajectories on the training tasks
  ({counts["failures"]} planted failures), in the sample set's form: `task_id`, `messages` (every call really
  executed in a fresh `SqlEnv`), `tools`, `label`, `reward`, `teacher`, and for failures
  `failure: {{"tags", "first_step"}}`.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curator.sqlgen", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=SQL_DIR)
    args = parser.parse_args(argv)
    counts = write(args.out, args.seed)
    print(f"wrote {counts}: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
