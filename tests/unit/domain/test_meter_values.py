from __future__ import annotations

from datetime import UTC, datetime

from csms.domain.meter_values import DEFAULT_MEASURAND, flatten


def test_one_sample_per_sampled_value_with_defaults() -> None:
    samples = flatten(
        [
            {
                "timestamp": "2026-03-01T10:00:00+01:00",
                "sampledValue": [
                    {"value": "100"},
                    {
                        "value": "7.4",
                        "measurand": "Power.Active.Import",
                        "unit": "kW",
                        "phase": "L1",
                    },
                ],
            }
        ]
    )
    assert [(s.measurand, s.value, s.phase) for s in samples] == [
        (DEFAULT_MEASURAND, "100", None),
        ("Power.Active.Import", "7.4", "L1"),
    ]
    assert samples[0].sampled_at == datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_duplicates_within_a_message_are_kept_once() -> None:
    value = {"timestamp": "2026-03-01T10:00:00Z", "sampledValue": [{"value": "1"}, {"value": "2"}]}
    assert [s.value for s in flatten([value, value])] == ["1"]
