"""A list of checks, each pass, fail (with a hint) or skip (naming what it needed): what
`doctor` and `verify` report, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass


@dataclass
class Check:
    name: str
    status: str  # pass | fail | skip
    detail: str
    hint: str = ""


class CheckFailed(Exception):
    """Raised by a check's function: DETAIL says what is wrong, HINT what to do."""

    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail, self.hint = detail, hint


class Checklist:
    def __init__(self, expected_errors: tuple[type[BaseException], ...] = (OSError,)) -> None:
        self.checks: list[Check] = []
        self.expected_errors = expected_errors

    def record(self, name: str, run: Callable[[], str], hint: str = "",
               needs: Sequence[str] | None = None) -> None:
        """Run RUN unless a check it NEEDS (default: every earlier one) did not pass."""
        blocked = [c.name for c in self.checks
                   if c.status != "pass" and (needs is None or c.name in needs)]
        if blocked:
            self.checks.append(Check(name, "skip", f"needs '{blocked[0]}' to pass"))
            return
        try:
            self.checks.append(Check(name, "pass", run()))
        except CheckFailed as failure:
            self.checks.append(Check(name, "fail", failure.detail, failure.hint or hint))
        except self.expected_errors as error:
            self.checks.append(Check(name, "fail", f"{type(error).__name__}: {error}", hint))


def passed(checks: list[Check]) -> bool:
    return all(c.status == "pass" for c in checks)


def table(checks: list[Check]) -> Iterator[str]:
    width = max(len(c.name) for c in checks)
    for c in checks:
        yield f"{c.status.upper():4}  {c.name:{width}}  {c.detail}"
        if c.status == "fail" and c.hint:
            yield f"{'':4}  {'':{width}}  hint: {c.hint}"


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
