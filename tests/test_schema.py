"""The JSON document (schema 3) against the JSON Schema shipped with the package, on every corpus file."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from analysis.pipeline import analyse
from analysis.render.document import as_dict, schema
from tests.test_corpus import VERDICTS
from tests.test_mixed_captures import merge, unpromised_h2


@pytest.fixture(scope="module")
def validator():
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


def test_every_corpus_result_validates(corpus, validator):
    doc = as_dict([analyse(str(corpus / name)) for name in sorted(VERDICTS)])
    validator.validate(doc)
    assert doc["schema"] == 3 and len(doc["captures"]) == len(VERDICTS)


def test_a_mixed_failing_capture_validates_and_lists_its_connections(corpus, tmp_path, validator):
    h2, _ = unpromised_h2(tmp_path)
    merged = merge(tmp_path, "m.pcapng", corpus / "ws-arkime.pcap", h2)
    proc = subprocess.run([sys.executable, "-m", "analysis", "check", "--json", merged], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    validator.validate(doc)
    (cap,) = doc["captures"]
    assert cap["verdict"] == "fail"
    assert sorted((c["protocol"], c["verdict"]) for c in cap["connections"]) == [("http2", "fail"),
                                                                                 ("websocket", "pass")]
    assert cap["connection_counts"] == {"websocket": {"pass": 1}, "http2": {"fail": 1}}


@pytest.mark.parametrize("breakage", [
    lambda d: d["captures"][0]["findings"][0].update(status="pass"),
    lambda d: d["captures"][0]["connections"][0].update(verdict="not-judged"),
    lambda d: d.update(schema=1),
    lambda d: d["captures"][0].pop("connections"),
])
def test_the_schema_rejects_what_it_should(corpus, validator, breakage):
    doc = as_dict([analyse(str(corpus / "ws-arkime.pcap"))])
    validator.validate(doc)
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)
