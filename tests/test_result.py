"""Checks and verdicts: a non-finite value is unmeasured and fails, whatever the comparison, and a stored verdict
reloads identical to the live one (an infinite value used to be stored as null, reload as NaN, and flip)."""

import dataclasses
import json
import math

import pytest

from phenomena.result import Check, Verdict, decode_float, encode_float
from phenomena.store import Store


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("op, threshold", [(">=", 10), ("<=", 10), (">", -1e300), ("<", 1e300)])
def test_a_non_finite_value_fails_every_comparison_with_its_reason(value, op, threshold):
    check = Check("x", value, op, threshold)
    assert not check.measured and not check.passed
    assert check.reason == f"unmeasured ({encode_float(value)})"
    assert "unmeasured" in Verdict((check,)).table() and not Verdict((check,)).passed


def test_a_finite_value_is_judged_and_a_failure_says_why():
    assert Check("x", 10.0, ">=", 10).passed and Check("x", 10.0, ">=", 10).reason == ""
    assert Check("x", 9.5, ">=", 10).reason == "9.5 is not >= 10"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.25, 3])
def test_encoding_round_trips_through_json(value):
    back = decode_float(json.loads(json.dumps(encode_float(value))))
    assert (math.isnan(back) and math.isnan(value)) or back == value
    assert decode_float(None) != decode_float(None)  # older records wrote every non-finite value as null: NaN


def test_a_stored_verdict_and_summary_reload_identical(tmp_path):
    from phenomena.runner.execute import record_to_result

    checks = (Check("infinite", math.inf, ">=", 10), Check("nan", math.nan, "<=", 1), Check("ok", 2.0, "<=", 3))
    verdict = Verdict(checks)
    store = Store(tmp_path)
    store.begin("r1", "grokking", "quick", {}, environment={})
    summary = {"a": math.inf, "b": -math.inf, "c": math.nan, "d": 1.5}
    store.finish("r1", "finished", summary, verdict.to_dict())
    record = store.get("r1")
    assert Verdict.from_dict(record.verdict).to_dict() == verdict.to_dict()
    assert [c.passed for c in Verdict.from_dict(record.verdict).checks] == [False, False, True]

    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 0

    class FakeEntry:
        config = Config

    result = record_to_result(record, store, lambda name: FakeEntry)
    assert result.summary["a"] == math.inf and result.summary["b"] == -math.inf and math.isnan(result.summary["c"])
