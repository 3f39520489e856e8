"""A user's own environment, written as a team would for TRL's GRPOTrainer(environment_factory=...): not shipped,
loaded by path in the tests (`--env tests/envs/stock_env.py:StockEnv`)."""

START = {"bolts": 40, "nuts": 15, "gears": 3}


class StockEnv:
    def __init__(self):
        self.stock, self.item, self.wanted, self.orders = dict(START), None, 0, []

    def reset(self, item: str, wanted: int, **kwargs) -> str:
        self.stock, self.item, self.wanted, self.orders = dict(START), item, wanted, []
        return f" (warehouse W{len(item)})"

    def check_stock(self, item: str) -> dict:
        """How many of an item are in stock.

        Args:
            item: The item's name.
        """
        if item not in self.stock:
            return {"error": f"no item {item}"}
        return {"item": item, "in_stock": self.stock[item]}

    def order_item(self, item: str, quantity: int) -> str:
        """Order more of an item.

        Args:
            item: The item's name.
            quantity: How many to order.
        """
        if quantity < 1:
            raise ValueError("quantity must be positive")
        self.stock[item] = self.stock.get(item, 0) + quantity
        self.orders.append((item, quantity))
        return f"ordered {quantity} {item}; now {self.stock[item]}"

    def get_reward(self, final_answer: str | None = None) -> float:
        """1.0 when the stock covers the wanted amount with exactly the shortfall ordered, and the answer says so."""
        shortfall = max(0, self.wanted - START[self.item])
        ordered = sum(q for i, q in self.orders if i == self.item)
        said = final_answer is not None and str(self.stock[self.item]) in final_answer
        return float(ordered == shortfall and len(self.orders) == (shortfall > 0) and said)
