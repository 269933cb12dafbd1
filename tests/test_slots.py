"""Events built by writing their slots (analysis/wire/_slots.pyx, the compiled parsers' way) against the classes
themselves (the pure path's way): the same type, fields, equality, repr, hash-free behaviour and pickle, for every
event class the HTTP/1.x parser builds and for the values a peer can make them hold; what ``Maker`` refuses; and the
parser's makers being the extension's where it is built (the class where it is not).

The extension exists only compiled. Where it is not built in the tree under test, these tests fail when a C compiler
is at hand or under CI and are skipped, with the reason, only where none is (tests/built.py). Under
``DUPLEXLAB_PURE=1`` the package does not use it, and the tests load it themselves, as tests/test_aead.py does.
"""

from __future__ import annotations

import dataclasses
import gc
import pickle
import sys
import weakref

import pytest

from analysis import _speed
from analysis.events import C2S, S2C, Event, Http1Body, Http1End, Http1Request, Http1Response, WsFrame
from analysis.protocols import http1, makers, websocket
from tests.built import native


@pytest.fixture(scope="module")
def slots():
    """The extension module, as the package loads it (or, under DUPLEXLAB_PURE, loaded here from the same file)."""
    return native("wire._slots", "the slot writer")


class Big(int):
    """An int subclass: a field holds whatever object it is given, as the class's __init__ keeps it."""


SAMPLES = {
    Http1Request: [
        (0.5, 1, 0, C2S, 0, "GET", "/", "HTTP/1.1", "", False),
        (1.7e9 + 0.123456, 2**40, 2**70, C2S, 2**63, "POST", "/é?q=\x00", "HTTP/1.0", "websocket", True),
        (float("inf"), -1, Big(5), C2S, 3, "", "", "", "h2c", 1),  # the classes check no types: neither does Maker
    ],
    Http1Response: [
        (0.25, 3, 1, S2C, 0, 200, "HTTP/1.1", "text/html", "", False, False),
        (2.0, 9, 1, S2C, 1, 101, "HTTP/1.1", "", "websocket", True, True),
        (3.0, 10, 4, S2C, 2**64, 999, "HTTP/1.0", "text/event-stream; charset=utf-8", "", False, True),
    ],
    Http1End: [(0.5, 4, 0, C2S, 0, 1, 0), (9.0, 2**33, 7, S2C, 12, 2**33 - 1, 2**62)],
    Http1Body: [(0.5, 4, 0, S2C, 0, 100, 0.75, 5), (1.0, 2, 3, C2S, 7, 2**65, float("nan"), 8)],
}


def _same(a: Event, b: Event) -> None:
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        assert getattr(a, f.name) is getattr(b, f.name)  # the very objects given, kept as given
    assert repr(a) == repr(b)
    assert not hasattr(a, "__dict__")
    back = pickle.loads(pickle.dumps(a))
    assert type(back) is type(b) and repr(back) == repr(b)


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_a_made_event_is_the_one_its_class_makes(slots, cls):
    make = slots.Maker(cls)
    assert make.cls is cls and make.names == tuple(f.name for f in dataclasses.fields(cls))
    for values in SAMPLES[cls]:
        made, built = make(*values), cls(*values)
        _same(made, built)
        if not any(v != v for v in values):
            assert made == built and built == made
            assert dataclasses.replace(made, frame=made.frame) == built
        assert made != cls(*values[:-1], "other")
        with pytest.raises(TypeError):
            hash(made)  # unhashable, as the dataclass is (eq without frozen)


def test_the_objects_it_holds_are_released_with_it(slots):
    class Held:
        pass

    held = Held()
    ref = weakref.ref(held)
    event = slots.Maker(Http1Request)(0.0, 1, 2, C2S, 0, held, "/", "HTTP/1.1", "", False)
    del held
    assert ref() is not None and event.method is not None
    del event
    gc.collect()
    assert ref() is None
    n = sys.getrefcount(C2S)
    events = [slots.Maker(Http1End)(0.0, i, 0, C2S, 0, 0, 0) for i in range(1000)]
    assert sys.getrefcount(C2S) == n + 1000
    del events
    assert sys.getrefcount(C2S) == n


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_another_count_of_arguments_fails_as_the_class_does(slots, cls):
    make, n = slots.Maker(cls), len(dataclasses.fields(cls))
    args = SAMPLES[cls][0]
    for wrong in (args[:-1], (*args, 0), (), args[:4]):
        with pytest.raises(TypeError):
            make(*wrong)
        if len(wrong) > n:
            with pytest.raises(TypeError):
                cls(*wrong)
    with pytest.raises(TypeError):
        make(*args[:-1], **{dataclasses.fields(cls)[-1].name: args[-1]})  # no keywords


def test_what_it_cannot_build_it_refuses(slots):
    @dataclasses.dataclass
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            self.a += 1

    @dataclasses.dataclass(slots=True)
    class NotInit:
        a: int
        b: list = dataclasses.field(default_factory=list, init=False)

    @dataclasses.dataclass(slots=True)
    class OwnInit:
        a: int

    def __init__(self, a: int) -> None:
        self.a = a * 2

    OwnInit.__init__ = __init__

    @dataclasses.dataclass(slots=True)
    class Fine:
        a: int
        b: str = ""

    class NotADataclass:
        __slots__ = ("a",)

    for cls in (NoSlots, PostInit, NotInit, OwnInit, NotADataclass, Http1Request(0.0, 1, 0, C2S)):
        with pytest.raises(TypeError):
            slots.Maker(cls)
    assert slots.Maker(Fine)(1, "x") == Fine(1, "x")
    assert slots.Maker(WsFrame)(0.0, 1, 0, S2C, 1, True, False, False, 5, 1, 0.0) == \
        WsFrame(0.0, 1, 0, S2C, 1, True, False, False, 5, 1, 0.0)


def test_the_parsers_build_with_it_where_it_is_built(slots):
    made = (http1._REQUEST, http1._RESPONSE, http1._END, http1._BODY, websocket._FRAME)
    classes = (Http1Request, Http1Response, Http1End, Http1Body, WsFrame)
    if _speed.pure_forced():
        assert made == classes  # the pure path calls the classes themselves
    else:
        assert [type(m) for m in made] == [slots.Maker] * len(classes)
        assert [m.cls for m in made] == list(classes)


def test_a_class_the_maker_refuses_is_built_by_the_class_itself():
    """``makers.maker`` gives the class back where a Maker would refuse it (on both paths): events are still
    made, the slow way, and the package still imports."""

    @dataclasses.dataclass
    class NoSlots:
        a: int

    assert makers.maker(NoSlots) is NoSlots
    assert makers.maker(NoSlots)(1) == NoSlots(1)
