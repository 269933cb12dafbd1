"""What the mergeable partial states share (a capture split by flow, ``parts.py``): adding up, field by field,
the counts two states of disjoint connections hold."""

from __future__ import annotations

from collections.abc import Mapping


def add_up(mine: object, theirs: object, *names: str) -> None:
    """``mine.name += theirs.name`` for each name."""
    for name in names:
        setattr(mine, name, getattr(mine, name) + getattr(theirs, name))


def add_counts(mine: dict, theirs: Mapping) -> None:
    """Add ``theirs``' counts into ``mine``, key by key."""
    for key, n in theirs.items():
        mine[key] = mine.get(key, 0) + n
