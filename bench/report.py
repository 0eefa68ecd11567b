"""Figures, targets, the machine, the printed table and the results block in bench/README.md."""

from __future__ import annotations

import os
import platform
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass
class Figure:
    """One measured quantity: its samples, and the target it is held to (if any)."""

    name: str
    unit: str
    samples: list[float]
    #: ("<=", x) or (">=", x); the median is compared with it.
    target: tuple[str, float] | None = None
    note: str = ""
    #: Shown instead of samples when the figure could not be measured.
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def status(self) -> str:
        if self.error or not self.samples:
            return "n/a"
        if self.target is None:
            return ""
        op, limit = self.target
        ok = self.median <= limit if op == "<=" else self.median >= limit
        return "met" if ok else "MISSED"

    def cells(self) -> list[str]:
        if self.error or not self.samples:
            return [self.name, "—", "—", "—", "0", self.unit, _target(self), "n/a", self.error or "not measured"]
        return [
            self.name, _num(self.median), _num(min(self.samples)), _num(max(self.samples)),
            str(len(self.samples)), self.unit, _target(self), self.status, self.note,
        ]


def failed(name: str, unit: str, error: BaseException | str, target: tuple[str, float] | None = None) -> Figure:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return Figure(name, unit, [], target, error=text.strip().splitlines()[0][:160] if text.strip() else "failed")


def _num(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _target(f: Figure) -> str:
    if f.target is None:
        return ""
    op, limit = f.target
    return f"{'≤' if op == '<=' else '≥'} {_num(limit)}"


HEADER = ["figure", "median", "min", "max", "runs", "unit", "target", "result", "note"]


def text_table(figures: list[Figure]) -> str:
    rows = [HEADER] + [f.cells() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    widths[-1] = min(widths[-1], 70)
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i in (0, 5, 6, 7, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(figures: list[Figure]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for f in figures:
        lines.append("| " + " | ".join(esc(c) for c in f.cells()) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the machine


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def machine() -> dict[str, str]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()
    ram = f"{int(mem_kb[0]) / 1024 / 1024:.1f} GiB" if mem_kb else "?"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    distro = _first("/etc/os-release", "PRETTY_NAME=")
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": f"{cores} ({usable} usable)" if usable != cores else str(cores),
        "ram": ram,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "os": f"{distro or platform.system()} ({platform.system()} {platform.release()}, {platform.machine()})",
        "load average at start": load,
    }


def machine_text(info: dict[str, str]) -> str:
    return "\n".join(f"{k:>22}: {v}" for k, v in info.items())


def write_readme(figures: list[Figure], info: dict[str, str], command: str, remarks: list[str]) -> None:
    """Replace the block between the result markers in bench/README.md."""
    block = [
        START,
        f"Run `{command}` on {info['date']}.",
        "",
        *(f"- **{k}**: {v}" for k, v in info.items() if k != "date"),
        "",
        markdown_table(figures),
    ]
    if remarks:
        block += ["", *(f"- {r}" for r in remarks)]
    block.append(END)
    text = README.read_text() if README.exists() else f"# Benchmark\n\n{START}\n{END}\n"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    README.write_text(pattern.sub(lambda _: "\n".join(block), text, count=1))


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)
