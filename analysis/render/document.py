"""The JSON document ``check --json`` prints (schema 3), and the JSON Schema that describes it.

Schema 3: per capture, its verdict, one finding per invariant over its connections (the
rollup), each connection with its protocol, Community ID, verdict and findings, measures and
warnings. (Schema 2 had no ``community_id``.)
``schema.json`` beside this module is the contract; the tests validate every result against it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources

from ..findings import CaptureResult

SCHEMA_VERSION = 3


def as_dict(results: Sequence[CaptureResult]) -> dict:
    return {"schema": SCHEMA_VERSION, "captures": [r.as_dict() for r in results]}


def document(results: Sequence[CaptureResult]) -> str:
    return json.dumps(as_dict(results), indent=2)


def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))
