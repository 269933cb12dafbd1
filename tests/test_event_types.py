"""The event classes on both paths (analysis/events.py): compiled, extension types (Cython dataclasses, events.pxd);
pure, slots dataclasses. On each path: every class is a dataclass with no ``__dict__``, keeps the very objects it is
given, compares by value and is unhashable; the ``new_*`` makers the parsers call make the event the class's own
call makes. Across the paths: the same fields with the same defaults, the same repr, and the same pickle bytes, which
each path reads back from the other. Under CI or with a C compiler at hand, the compiled path must have them as
extension types (tests/built.py)."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from analysis import events
from analysis.events import (
    C2S,
    S2C,
    Event,
    Http1Body,
    Http1End,
    Http1Request,
    Http1Response,
    WsFrame,
    new_http1_body,
    new_http1_end,
    new_http1_request,
    new_http1_response,
    new_ws_frame,
)
from tests.built import missing, on_path


class Big(int):
    """An int subclass: a field holds whatever object it is given, as on either path."""


# Values a peer can make the parsers' events hold, and a few no parser makes (the classes check no types).
SAMPLES = {
    Http1Request: (new_http1_request, [
        (0.5, 1, 0, C2S, 0, "GET", "/", "HTTP/1.1", "", False),
        (1.7e9 + 0.123456, 2**40, 2**70, C2S, 2**63, "POST", "/é?q=\x00", "HTTP/1.0", "websocket", True),
        (float("inf"), -1, Big(5), C2S, 3, "", "", "", "h2c", 1),
    ]),
    Http1Response: (new_http1_response, [
        (0.25, 3, 1, S2C, 0, 200, "HTTP/1.1", "text/html", "", False, False),
        (2.0, 9, 1, S2C, 1, 101, "HTTP/1.1", "", "websocket", True, True),
        (3.0, 10, 4, S2C, 2**64, 999, "HTTP/1.0", "text/event-stream; charset=utf-8", "", False, True),
    ]),
    Http1End: (new_http1_end, [(0.5, 4, 0, C2S, 0, 1, 0), (9.0, 2**33, 7, S2C, 12, 2**33 - 1, 2**62)]),
    Http1Body: (new_http1_body, [(0.5, 4, 0, S2C, 0, 100, 0.75, 5), (1.0, 2, 3, C2S, 7, 2**65, 1.5, 8)]),
    WsFrame: (new_ws_frame, [(0.5, 4, 0, S2C, 1, True, False, False, 64, 4, 0.5),
                             (7.25, 2**35, 9, C2S, 0xB, False, True, True, 2**63 - 1, 2**35 + 1, 8.0)]),
}
EVENT_CLASSES = [c for c in vars(events).values() if isinstance(c, type) and issubclass(c, Event)]


def test_every_event_class_is_a_dataclass_without_a_dict():
    assert len(EVENT_CLASSES) >= 20
    for cls in EVENT_CLASSES:
        assert dataclasses.is_dataclass(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        assert names[:4] == ["ts", "frame", "conn", "direction"]
        e = cls(1.0, 2, 3, C2S)  # every field past the base's has a default
        assert not hasattr(e, "__dict__")
        with pytest.raises(AttributeError):
            e.not_a_field = 1
        with pytest.raises(TypeError):
            hash(e)  # unhashable, as a dataclass with eq and without frozen is
        assert e == cls(1.0, 2, 3, C2S) and e != cls(1.0, 2, 4, C2S)
        assert pickle.loads(pickle.dumps(e)) == e


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_a_maker_makes_the_event_the_class_makes(cls):
    make, samples = SAMPLES[cls]
    for values in samples:
        made, built = make(*values), cls(*values)
        assert type(made) is cls and made == built and repr(made) == repr(built)
        for f, value in zip(dataclasses.fields(cls), values, strict=True):
            assert getattr(made, f.name) is value  # the very objects given, kept as given
        assert dataclasses.replace(made, frame=made.frame) == built
        assert made != cls(*values[:-1], "other")
        assert pickle.loads(pickle.dumps(made)) == built


def test_the_parsers_make_their_events_with_the_makers():
    from analysis.protocols import http1, websocket

    assert http1.new_http1_request is new_http1_request and websocket.new_ws_frame is new_ws_frame


_DESCRIBE = """
import dataclasses, json, pickle, sys
from analysis import events
from tests.test_event_types import EVENT_CLASSES, SAMPLES
def default(f):
    return "-" if f.default is dataclasses.MISSING else repr(f.default)
out = {"fields": {c.__name__: [[f.name, default(f)] for f in dataclasses.fields(c)] for c in EVENT_CLASSES},
       "repr": [repr(c(1.5, 2, 3, events.S2C)) for c in EVENT_CLASSES],
       "pickles": [pickle.dumps(c(*v)).hex() for c, (_, samples) in SAMPLES.items() for v in samples]
                  + [pickle.dumps([c(1.5, 2, 3, events.C2S) for c in EVENT_CLASSES]).hex()],
       "extension": sorted(c.__name__ for c in EVENT_CLASSES if "__slots__" not in c.__dict__)}
if sys.argv[1:]:  # the other path's pickles: each reads back to the event it was
    other = json.load(open(sys.argv[1]))["pickles"]
    out["loaded"] = [pickle.dumps(pickle.loads(bytes.fromhex(p))).hex() == p for p in other]
print(json.dumps(out))
"""


def _describe(pure: bool, other: str | None = None) -> dict:
    r = on_path(["-c", _DESCRIBE, *([other] if other else [])], pure, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_both_paths_have_the_same_events_and_read_each_others_pickles(tmp_path):
    pure, compiled = _describe(pure=True), _describe(pure=False)
    if not compiled["extension"]:
        missing("analysis.events runs pure where the compiled path should run (not built, or edited since)")
    assert compiled["extension"] == sorted(c.__name__ for c in EVENT_CLASSES)  # all of them extension types
    assert pure["extension"] == []  # all of them slots classes
    for key in ("fields", "repr", "pickles"):
        assert compiled[key] == pure[key], key
    for mine, theirs in ((pure, compiled), (compiled, pure)):
        path = tmp_path / "other.json"
        path.write_text(json.dumps(theirs))
        loaded = _describe(pure=mine is pure, other=str(path))["loaded"]
        assert loaded and all(loaded)
