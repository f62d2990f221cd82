"""The result objects of `sveval validate`: one Check per check, a ValidationReport per folder."""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, NOT_CHECKABLE = "pass", "fail", "not-checkable"
STATUSES = (PASS, FAIL, NOT_CHECKABLE)


@dataclass(frozen=True)
class Check:
    """One check: `name` (parse, coverage, metrics, ...), `status` (pass, fail, not-checkable), the
    `file` it is about (a name inside the folder) and a `message`: what was found, or why it was not checked.
    """

    name: str
    status: str
    file: str
    message: str


@dataclass(frozen=True)
class ValidationReport:
    """Every check run on one folder, in a stable order: score files, result files, model files."""

    path: str
    checks: tuple[Check, ...]

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.checks)

    @property
    def passed(self) -> bool:
        """No check failed (not-checkable ones are listed, not failures)."""
        return self.count(FAIL) == 0
