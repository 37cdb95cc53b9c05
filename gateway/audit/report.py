"""The outcome of ``gateway audit verify``: what was checked and every problem found."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    index: int | None = None
    checkpoint: int | None = None


@dataclass
class Report:
    entries: int = 0
    sequenced: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def summary(self) -> str:
        rate = self.entries / self.seconds if self.seconds else 0.0
        figures = (
            f"{self.entries} entries, {self.checkpoints} checkpoints, "
            f"{self.seconds:.2f} s ({rate:,.0f} entries/s)"
        )
        if self.ok:
            return f"audit log OK: {figures}"
        lines = [f"audit log FAILED verification: {figures}"]
        if self.first_bad_index is not None:
            lines.append(f"first bad index: {self.first_bad_index}")
        lines += [f"  - {p.message}" for p in self.problems]
        return "\n".join(lines)
