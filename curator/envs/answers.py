"""Whether a final answer states the facts a task needs: the one rule the built-in environments score with."""

from __future__ import annotations

import re
from typing import Any

_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}")
_NUMBER = re.compile(r"(?<![\w.\-/])\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> list[float]:
    """Numbers a reader would see in the text; dates, times and ids (BK2001, O-5003) are not numbers."""
    return [float(n.replace(",", "")) for n in _NUMBER.findall(_DATE_OR_TIME.sub(" ", text))]


def mentions(text: str, fact: Any) -> bool:
    """Whether an answer states a fact: a number (to the cent), a word or id (case-insensitive, at a
    word start, so "cancel" matches "cancelled" but "full" does not match "successfully"), or any of a
    tuple of alternatives."""
    if isinstance(fact, tuple):
        return any(mentions(text, f) for f in fact)
    if isinstance(fact, (int, float)):
        return any(abs(n - fact) < 0.005 for n in _numbers(text))
    return re.search(r"(?<!\w)" + re.escape(fact.casefold()), text.casefold()) is not None
