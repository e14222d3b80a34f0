"""The check wing: where the recipe's old names still occur, reported for CI."""

from codemods.check.findings import CheckError, CheckResult, Finding
from codemods.check.runner import find_stale

__all__ = ["CheckError", "CheckResult", "Finding", "find_stale"]
