"""The repeatability script's verdicts on hand-made timings, and its argument errors."""

from __future__ import annotations

import pytest

from benchmarks.cost.measure import TimingRow
from benchmarks.tools.timing_repeatability import Repeat, parse_args, report


def _row(latency_ms: float, ips: float, reason: str = "") -> TimingRow:
    return TimingRow(
        latency_ms=latency_ms,
        latency_iqr_ms=0.0,
        latency_p90_ms=latency_ms,
        fps=1000.0 / latency_ms,
        throughput_ips=ips,
        peak_mem_mb=100.0,
        threads=2,
        load_avg=0.5,
        timing_noisy=bool(reason),
        timing_noise_reason=reason,
    )


def test_ratios_are_second_over_first_and_judged_against_the_tolerance() -> None:
    steady = Repeat("a", _row(10.0, 200.0), _row(10.4, 196.0))  # 1.04 and 0.98
    drifted = Repeat("b", _row(10.0, 200.0), _row(10.0, 180.0))  # 1.00 and 0.90
    assert steady.latency_ratio == pytest.approx(1.04)
    assert steady.throughput_ratio == pytest.approx(0.98)
    assert steady.within(0.05) and not steady.within(0.03)
    assert not drifted.within(0.05) and drifted.within(0.10)


def test_report_states_the_target_and_the_noise() -> None:
    noisy = Repeat("b", _row(10.0, 200.0), _row(10.0, 180.0, "load average 3.00 > 2 cores"))
    lines = report([Repeat("a", _row(10.0, 200.0), _row(10.4, 196.0)), noisy], 0.05)
    assert lines[-1].startswith("target: every ratio within 0.95..1.05 on a quiet machine")
    assert lines[-1].endswith("1 of 2 specs within")
    assert lines[2].split()[:4] == ["a", "10.000", "10.400", "1.040"]
    assert lines[3].endswith("2nd: load average 3.00 > 2 cores")


def test_defaults_are_the_demo_specs_and_bad_arguments_are_usage_errors(capsys) -> None:
    demo = ["segnet-small", "unet-small", "fcn-small", "deconvnet-small", "ssd-small"]
    assert [p.name for p in parse_args([]).specs] == [f"{name}.yaml" for name in demo]
    with pytest.raises(SystemExit) as exc:
        parse_args(["--specs", "no/such.yaml"])
    assert exc.value.code == 2
    assert "spec file not found: no/such.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--threads", "0"])
