"""Grouping turns into the steps a reviewer sees and edits.

A step is one assistant turn with the tool results that follow it (up to the next assistant or
user turn). Step k is the k-th assistant turn, the same 0-based index `review` and `checks` use.
A later user message stands alone, between steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from curator.model import Turn


@dataclass(frozen=True)
class Block:
    step: int | None  # None for a user message
    turn: Turn
    results: tuple[Turn, ...] = ()

    @property
    def turns(self) -> list[Turn]:
        return [self.turn, *self.results]


def blocks(turns) -> list[Block]:
    out: list[Block] = []
    step = -1
    for turn in turns:
        if turn.role == "assistant":
            step += 1
            out.append(Block(step, turn))
        elif turn.role == "tool" and out and out[-1].step is not None:
            out[-1] = Block(out[-1].step, out[-1].turn, (*out[-1].results, turn))
        else:  # a user message, or a tool result before any step (kept, shown as it is)
            out.append(Block(None, turn))
    return out


def flatten(blocks_: list[Block]) -> list[Turn]:
    return [t for b in blocks_ for t in b.turns]


def step_count(turns) -> int:
    return sum(1 for t in turns if t.role == "assistant")
