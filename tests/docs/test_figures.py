"""Figures the docs quote as measured match bench/results, rounded as shown.

A measured figure in the docs carries a marker right after it (and after its unit), invisible
when rendered::

    p99 50 ms<!-- bench: gateway load_latency_p99 -->
    (4×)<!-- bench: gateway emit_cpu_per_frame / direct_cpu_per_frame -->

``gateway`` names ``bench/results/gateway.json``; the expression is arithmetic over that
file's metric names, ``min``/``max``/``mean``, and for the soak series ``slope(path)``
(least-squares KiB/s of an RSS series), ``lowest(path)``/``highest(path)`` over the samples
(``"fds.gw1"``) and ``lowest_total(key)``/``highest_total(key)`` (summed over processes per
sample); ``note("text")`` is the number right after ``text`` in the file's notes (its own
rounding widens the check). The marker checks the last number before it on its line (after
the previous marker or table cell border). The number must equal the value rounded to the
digits shown: ``50`` is 49.5–50.5, ``2.5`` is 2.45–2.55; from 1,000 up, trailing zeros of a
whole number are not significant (``500,300`` is 500,250–500,350, ``10,000`` is 5,000–15,000).
Figures from test runs, not benchmarks, are not marked.
"""

from __future__ import annotations

import ast
import json
import re
import runpy
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DOCS = (
    "docs/benchmarks.md",
    "docs/gateway.md",
    "docs/marketdata.md",
    "docs/web.md",
    "docs/emulator.md",
    "docs/resilience.md",
    "docs/security.md",
    "docs/architecture.md",
    "README.md",
)

MARKER = re.compile(r"<!--\s*bench:\s*(?P<file>[\w-]+)\s+(?P<expr>.*?)\s*-->")
NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
BORDER = re.compile(r"\|")
CODE = re.compile(r"`[^`]*`")
#: In notes a number may run into its unit ("p99 26ms").
NOTE_NUMBER = re.compile(r"\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Figure:
    where: str
    shown: str
    file: str
    expr: str


def precision(text: str) -> float:
    """Half a unit of the last significant digit of ``text`` as written."""
    digits = text.replace(",", "")
    if "." in digits:
        return 0.5 * 10.0 ** -len(digits.split(".")[1])
    if int(digits) < 1000:
        return 0.5
    zeros = len(digits) - len(digits.rstrip("0"))
    return 0.5 * 10.0**zeros


def figures(text: str, name: str) -> list[Figure]:
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        # Inline code (a marker shown as an example, `ingest_ts`) is neither figure nor marker.
        line = CODE.sub(lambda code: " " * len(code.group(0)), raw)
        start = 0
        for marker in MARKER.finditer(line):
            segment = line[start : marker.start()]
            borders = list(BORDER.finditer(segment))
            if borders:
                segment = segment[borders[-1].end() :]
            numbers = NUMBER.findall(segment)
            where = f"{name}:{number}"
            assert numbers, f"{where}: marker {marker.group(0)} follows no number"
            found.append(Figure(where, numbers[-1], marker["file"], marker["expr"]))
            start = marker.end()
    return found


class Result:
    """One bench/results/<name>.json and the functions a marker may call on it."""

    def __init__(self, name: str) -> None:
        path = RESULTS / f"{name}.json"
        assert path.exists(), f"no bench/results/{name}.json"
        self.doc: dict[str, Any] = json.loads(path.read_text())
        self.slack = 0.0  # precision of a figure read from the notes

    def _series(self, path: str) -> list[float]:
        key, name = path.split(".")
        return [float(point[key][name]) for point in self.doc["series"]]

    def slope(self, path: str) -> float:
        xs = [float(point["t"]) for point in self.doc["series"]]
        ys = self._series(path)
        mx, my = statistics.mean(xs), statistics.mean(ys)
        num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        return num / sum((x - mx) ** 2 for x in xs) * 1024  # MiB/s -> KiB/s

    def lowest(self, path: str) -> float:
        return min(self._series(path))

    def highest(self, path: str) -> float:
        return max(self._series(path))

    def lowest_total(self, key: str) -> float:
        return min(float(sum(point[key].values())) for point in self.doc["series"])

    def highest_total(self, key: str) -> float:
        return max(float(sum(point[key].values())) for point in self.doc["series"])

    def note(self, text: str) -> float:
        notes: str = self.doc["notes"]
        at = notes.find(text)
        assert at >= 0, f"{text!r} is not in {self.doc['name']}.json's notes"
        match = NOTE_NUMBER.match(notes, at + len(text))
        assert match, f"no number right after {text!r} in {self.doc['name']}.json's notes"
        self.slack = max(self.slack, precision(match.group(1)))
        return float(match.group(1).replace(",", ""))

    def evaluate(self, expr: str) -> float:
        functions: dict[str, Callable[..., float]] = {
            "min": min,
            "max": max,
            "mean": lambda *xs: statistics.mean(xs),
            "slope": self.slope,
            "lowest": self.lowest,
            "highest": self.highest,
            "lowest_total": self.lowest_total,
            "highest_total": self.highest_total,
            "note": self.note,
        }
        metrics = {k: float(m["value"]) for k, m in self.doc["metrics"].items()}
        operators: dict[type[ast.AST], Callable[[float, float], float]] = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b,
        }

        def value(node: ast.AST) -> Any:
            if isinstance(node, ast.Expression):
                return value(node.body)
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
                return node.value
            if isinstance(node, ast.Name):
                assert node.id in metrics, f"{self.doc['name']}.json has no metric {node.id!r}"
                return metrics[node.id]
            if isinstance(node, ast.BinOp) and type(node.op) in operators:
                return operators[type(node.op)](value(node.left), value(node.right))
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                return -value(node.operand)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id in functions, f"unknown function {node.func.id!r}"
                return functions[node.func.id](*(value(a) for a in node.args))
            raise AssertionError(f"not allowed in a bench marker: {ast.dump(node)}")

        return float(value(ast.parse(expr, mode="eval")))


def all_figures() -> list[Figure]:
    found = []
    for name in DOCS:
        found += figures((ROOT / name).read_text(), name)
    return found


def test_marked_figures_match_bench_results() -> None:
    found = all_figures()
    assert len(found) > 80, f"only {len(found)} marked figures: markers lost?"
    wrong = []
    for figure in found:
        result = Result(figure.file)
        try:
            expected = result.evaluate(figure.expr)
        except (AssertionError, SyntaxError, KeyError, ValueError) as exc:
            wrong.append(f"{figure.where}: {figure.file} {figure.expr}: {exc}")
            continue
        shown = float(figure.shown.replace(",", ""))
        tolerance = (precision(figure.shown) + result.slack) * (1 + 1e-9)
        if abs(expected - shown) > tolerance:
            wrong.append(
                f"{figure.where}: shows {figure.shown}, bench/results/{figure.file}.json gives "
                f"{expected:,.4g} ({figure.expr})"
            )
    print(f"\nFIGURES {len(found)} marked figures in {len(DOCS)} docs checked")
    assert not wrong, "figures that do not match bench/results:\n" + "\n".join(wrong)


def test_every_measured_figure_in_benchmarks_md_is_marked() -> None:
    # The measured column of the table in docs/benchmarks.md: every number carries a marker.
    unmarked = []
    for number, line in enumerate((ROOT / "docs/benchmarks.md").read_text().splitlines(), 1):
        cells = line.split("|")
        if len(cells) < 5 or set(cells[2].strip()) <= set("-"):
            continue
        measured = cells[2]
        if measured.strip() == "measured":
            continue
        bare = MARKER.split(measured)[::3]  # the text between markers
        for i, piece in enumerate(bare):
            numbers = NUMBER.findall(piece)
            bound = 1 if i < len(bare) - 1 else 0
            if len(numbers) > bound:
                unmarked.append(f"docs/benchmarks.md:{number}: {numbers[: len(numbers) - bound]}")
    assert not unmarked, "unmarked figures in the measured column:\n" + "\n".join(unmarked)


@pytest.mark.parametrize(
    ("shown", "half"),
    [("50", 0.5), ("930", 0.5), ("2.5", 0.05), ("500,300", 50), ("0", 0.5), ("3.40", 0.005)],
)
def test_rounding_as_shown(shown: str, half: float) -> None:
    assert precision(shown) == pytest.approx(half)


def test_a_stale_figure_is_caught() -> None:
    # The gateway table before this check: p99 81 ms where gateway.json says 50.
    stale = figures("| latency | p99 81 ms<!-- bench: gateway load_latency_p99 --> |", "x")
    assert [(f.shown, f.expr) for f in stale] == [("81", "load_latency_p99")]
    expected = Result("gateway").evaluate(stale[0].expr)
    assert abs(expected - 81) > precision("81")


def test_summary_md_is_generated_from_the_results() -> None:
    # bench/run_all.py writes SUMMARY.md from every JSON file; one written since must be folded in.
    namespace = runpy.run_path(str(ROOT / "bench" / "run_all.py"))
    summary = (RESULTS / "SUMMARY.md").read_text()
    assert summary == namespace["summarise"](), (
        "bench/results/SUMMARY.md is stale: regenerate it with "
        '`uv run python -c \'import runpy; m = runpy.run_path("bench/run_all.py"); '
        'open("bench/results/SUMMARY.md", "w").write(m["summarise"]())\'`'
    )
