"""Each exposure class of the patch-status report, with firmware strings cameras really send."""

from __future__ import annotations

import pytest

from agent.identify.firmware import Constraint, parse_range
from collector.reports.exposure import Exposure, classify, read_firmware, worst

HIK_36260 = parse_range(">=V5.4.0,build<210628")  # CVE-2021-36260 as the bundled table has it
DAHUA_33045 = parse_range("build<200501")  # CVE-2021-33045, IPC-HX3XXX/HX5XXX
AMCREST_5735 = parse_range("branch=2.800.00AC000,build<200330")


@pytest.mark.parametrize(
    ("maker", "firmware", "constraints", "expected"),
    [
        # Hikvision: in range, patched build, before the range (the demo's 2015 PTZ), no build.
        ("hikvision", "V5.5.61 build 180718", HIK_36260, Exposure.AFFECTED),
        ("hikvision", "V5.5.800 build 210628", HIK_36260, Exposure.FIXED),
        ("hikvision", "V5.3.0 build 150326", HIK_36260, Exposure.NOT_AFFECTED),
        ("hikvision", "V5.7.15", HIK_36260, Exposure.UNKNOWN),  # the range needs a build date
        ("hikvision", "", HIK_36260, Exposure.UNKNOWN),
        ("hikvision", "IPC_G3_EN_STD_5.5.160_210416", HIK_36260, Exposure.UNKNOWN),  # not a device string
        # Dahua: build dates decide; another branch was never in the range.
        ("dahua", "2.800.0000000.14.R.191122", DAHUA_33045, Exposure.AFFECTED),
        ("dahua", "2.800.0000000.25.R.210302", DAHUA_33045, Exposure.FIXED),
        ("dahua", "2.800.0000000.25.R, Build Date 2021-03-02", DAHUA_33045, Exposure.FIXED),
        ("dahua", "2.800.00AC000.0.R.200318", AMCREST_5735, Exposure.AFFECTED),
        ("dahua", "2.800.00AC000.0.R.200330", AMCREST_5735, Exposure.FIXED),
        ("dahua", "2.800.0000000.6.R.200314", AMCREST_5735, Exposure.NOT_AFFECTED),
        ("dahua", "garbage", DAHUA_33045, Exposure.UNKNOWN),
    ],
)
def test_classify(maker: str, firmware: str, constraints: tuple[Constraint, ...], expected: Exposure) -> None:
    assert classify(read_firmware(firmware, maker), constraints) is expected


def test_one_device_under_several_rows_keeps_the_most_telling_class() -> None:
    assert worst(None, Exposure.NOT_AFFECTED) is Exposure.NOT_AFFECTED
    assert worst(Exposure.NOT_AFFECTED, Exposure.FIXED) is Exposure.FIXED
    assert worst(Exposure.FIXED, Exposure.AFFECTED) is Exposure.AFFECTED
    assert worst(Exposure.AFFECTED, Exposure.NOT_AFFECTED) is Exposure.AFFECTED
