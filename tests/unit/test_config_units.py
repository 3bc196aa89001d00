"""Durations, rates and names: the small string formats users write by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitxds.config import RateValue, format_duration, format_rate, parse_duration, parse_rate
from gitxds.config.units import check_name


@pytest.mark.parametrize(
    ("text", "millis"),
    [("250ms", 250), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("1.5s", 1500), ("1m30s", 90_000)],
)
def test_durations_users_write(text: str, millis: int) -> None:
    assert parse_duration(text) == millis


@pytest.mark.parametrize("text", ["", "30", "30 s", "s", "-1s", "1.5ms", "1d", "30S", "1.s"])
def test_bad_durations_are_rejected_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|millisecond"):
        parse_duration(text)


@settings(deadline=None)  # shared CI machines: timing is not what is tested
@given(st.integers(min_value=0, max_value=10**9))
def test_formatted_duration_reads_back(millis: int) -> None:
    assert parse_duration(format_duration(millis)) == millis


@settings(deadline=None)  # shared CI machines: timing is not what is tested
@given(st.integers(min_value=0, max_value=8760), st.sampled_from(["ms", "s", "m", "h"]))
def test_number_and_unit_mean_what_they_say(count: int, unit: str) -> None:
    factor = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[unit]
    assert parse_duration(f"{count}{unit}") == count * factor


@pytest.mark.parametrize("text", ["8761h", "100000000h", "525601m"])
def test_durations_longer_than_a_year_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="longer than a year"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/minute", RateValue(20, 60)),
        ("1/second", RateValue(1, 1)),
        ("5000/hour", RateValue(5000, 3600)),
        ("10/minutes", RateValue(10, 60)),
    ],
)
def test_rates(text: str, rate: RateValue) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["20", "20/day", "0/minute", "-1/second", "x/minute", "20 per minute"])
def test_bad_rates_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|unit"):
        parse_rate(text)


@settings(deadline=None)  # shared CI machines: timing is not what is tested
@given(st.integers(min_value=1, max_value=10**9), st.sampled_from([1, 60, 3600]))
def test_formatted_rate_reads_back(requests: int, per_seconds: int) -> None:
    rate = RateValue(requests, per_seconds)
    assert parse_rate(format_rate(rate)) == rate


@pytest.mark.parametrize("name", ["chat", "chat-v2", "a", "0day", "x" * 63])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["Chat", "chat_v2", "-chat", "chat-", "", "x" * 64, "chat.v2"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"name|longer"):
        check_name(name)
