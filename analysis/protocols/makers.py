"""How the parsers build their events: ``maker(cls)`` gives what makes instances of an event class.

On the compiled path that is wire/_slots.pyx's ``Maker``, which writes the slots of the same dataclass instance the
class would make, without the Python ``__init__`` (about 2 k instructions fewer an event); on the pure path, or for a
class the Maker refuses, the class itself. Either way it is called with all the fields, in order (positional: a
Maker takes no keywords), and makes an equal event (tests/test_slots.py).
"""

from __future__ import annotations

from collections.abc import Callable

try:  # the compiled path: events built by writing their slots
    from ..wire._slots import Maker
except ImportError:  # the pure path (or nothing built)
    Maker = None


def maker(cls: type) -> Callable:
    """What builds events of ``cls``: a Maker where the extension is loaded and takes the class; else the class itself,
    the same object made the same way (tests/test_slots.py fails where the compiled path does not use the Maker)."""
    if Maker is not None:
        try:
            return Maker(cls)
        except TypeError:  # a class it cannot build by its slots (another Python's dataclasses, say)
            pass
    return cls
