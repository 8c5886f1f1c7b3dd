"""Reason codes and findings: one closed vocabulary, each code documented once."""

from __future__ import annotations

from click.testing import CliRunner

from dualbeat.cli import cli
from dualbeat.core.reasons import DOCS, ReasonCode, render_codes
from dualbeat.core.roles import Finding, Health


def test_every_finding_is_a_reason_code_of_its_name() -> None:
    for finding in Finding:
        assert ReasonCode.of(finding).value == finding.name


def test_every_health_has_its_code() -> None:
    assert {ReasonCode.of_health(h) for h in Health} == {
        c for c in ReasonCode if c.name.startswith("MYSQL_")
    }


def test_every_code_has_one_line_of_doc() -> None:
    assert set(DOCS) == set(ReasonCode)
    for code in ReasonCode:
        assert code.doc == DOCS[code] and code.doc and "\n" not in code.doc


def test_refusals_are_typed_not_spelled() -> None:
    refusing = {f for f in Finding if f.refused}
    assert refusing == {f for f in Finding if f.value.endswith("_refused")}
    assert {c for c in ReasonCode if c.refused} == {ReasonCode.of(f) for f in refusing}


def test_fsm_codes_lists_every_code_with_its_doc() -> None:
    text = render_codes()
    lines = text.splitlines()
    assert len(lines) == len(ReasonCode)
    assert lines[0].split()[0] == ReasonCode.SHUTDOWN.value
    result = CliRunner().invoke(cli, ["fsm", "--codes"])
    assert result.exit_code == 0 and result.output == text + "\n"
