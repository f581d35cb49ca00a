"""The target grammar: OP VALUE[UNIT], units converted, clear errors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passcycle.targets import TargetSyntaxError, format_value, parse_quantity, parse_target


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("< 2s", "< 2000ms"),
        ("<2min", "< 120s"),
        ("< 1h", "< 60min"),
        ("< 1GB", "< 1024MB"),
        ("<= 1KB", "<= 1024B"),
        (">= 85%", ">=85.0%"),
    ],
)
def test_units_convert_so_equal_targets_are_equal(a, b):
    ta, tb = parse_target(a), parse_target(b)
    assert ta.value == pytest.approx(tb.value)
    assert ta.op == tb.op and ta.dimension == tb.dimension


@pytest.mark.parametrize(
    ("text", "value", "ok"),
    [
        ("< 2s", 1.999, True),
        ("< 2s", 2.0, False),
        ("<= 2s", 2.0, True),
        ("> 85%", 85.0, False),
        ("> 85%", 85.1, True),
        ("== 0", 0.0, True),
        ("!= 0", 0.0, False),
        (">= 100/s", 100.0, True),
        ("< 500MB", 500 * 1024**2 - 1, True),
        ("< 500MB", 600 * 1024**2, False),
    ],
)
def test_check(text, value, ok):
    assert parse_target(text).check(value) is ok


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2s",
        "<",
        "< two",
        "<< 2",
        "< 2 parsecs",
        "=< 2",
        "< nan",
        "< 1e999",
        "~ 3",
        "< 2s extra",
    ],
)
def test_bad_targets_say_what_is_allowed(text):
    with pytest.raises(TargetSyntaxError) as info:
        parse_target(text)
    assert "allowed" in str(info.value) or "write" in str(info.value) or "finite" in str(info.value)


def test_quantity_dimension_is_checked():
    assert parse_quantity("30s", "time") == 30.0
    assert parse_quantity("1.5min", "time") == 90.0
    with pytest.raises(TargetSyntaxError, match="not a time"):
        parse_quantity("30MB", "time")


def test_format_value_reads_well():
    assert format_value(0.412, "s") == "412ms"
    assert format_value(3.5, "s") == "3.50s"
    assert format_value(350 * 1024**2, "B") == "350.0MB"
    assert format_value(None, "%") == "—"


@given(st.text(max_size=40))
def test_fuzz_targets_never_raise_anything_else(text):
    try:
        target = parse_target(text)
    except TargetSyntaxError:
        return
    assert target.check(target.value) in (True, False)
