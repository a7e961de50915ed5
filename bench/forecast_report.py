"""bench/forecast_eval.py's tables: per series, then per group (the training series' tails, series never
seen in training, stock closes) the geometric mean and worst series relative to seasonal naive, coverage
and time. A method that refuses some series (the network past its reach) is summarized over the series it
answers, and the table says how many those are."""

import math
import statistics
from collections import Counter
from collections.abc import Callable

METHODS = ["rnnserve", "network", "SeasonalNaive", "Naive", "AutoETS", "AutoTheta", "AutoARIMA"]
GROUPS = {
    "seen": "training series, their held-out tails (their patterns were trained on)",
    "unseen": "never seen in training: shampoo, ETTh1's OT, held-out synthetic families",
    "stocks": "stock closes, never seen (season 1: seasonal naive is naive)",
}
Rows = dict[str, dict[str, dict[str, float]]]  # series -> method -> figure -> value


def report(rows: Rows, groups: dict[str, str], choices: dict[str, Counter[str]]) -> None:
    for group, title in GROUPS.items():
        chosen = {name: row for name, row in rows.items() if groups[name] == group}
        if not chosen:
            continue
        print(f"\n## {title}\n")
        print("| series | origins | " + " | ".join(f"{m} MASE (cov80)" for m in METHODS) + " |")
        print("|---|---|" + "---|" * len(METHODS))
        for name, row in chosen.items():
            cells = [
                f"{row[m]['mase']:.3f} ({row[m]['coverage']:.2f})" if m in row else "n/a" for m in METHODS
            ]
            print(f"| {name} | {int(row['SeasonalNaive']['origins'])} | " + " | ".join(cells) + " |")
        print_summary(chosen)
    print("\n## what answered rnnserve's requests (method auto), per series\n")
    for name, counts in choices.items():
        print(f"- {name}: " + ", ".join(f"{choice} x{count}" for choice, count in counts.most_common()))


def print_summary(chosen: Rows) -> None:
    """The table's last rows, each method over the series it answered (their count beside it)."""

    def summary(label: str, cell: Callable[[str], str]) -> None:
        cells = [cell(m) if any(m in row for row in chosen.values()) else "n/a" for m in METHODS]
        print(f"| {label} | | " + " | ".join(cells) + " |")

    def answered(m: str) -> list[dict[str, dict[str, float]]]:
        return [row for row in chosen.values() if m in row]

    def relative(m: str) -> list[float]:
        return [row[m]["mase"] / row["SeasonalNaive"]["mase"] for row in answered(m)]

    summary(
        "geometric mean MASE / SeasonalNaive (series)",
        lambda m: f"{math.exp(statistics.mean(math.log(r) for r in relative(m))):.3f} ({len(relative(m))})",
    )
    summary("worst series MASE / SeasonalNaive", lambda m: f"{max(relative(m)):.3f}")
    summary("series worse than 1.10 x SeasonalNaive", lambda m: str(sum(r > 1.10 for r in relative(m))))
    summary(
        "mean 80 % coverage", lambda m: f"{statistics.mean(row[m]['coverage'] for row in answered(m)):.3f}"
    )
    summary(
        "seconds per series (mean)",
        lambda m: f"{statistics.mean(row[m]['seconds'] for row in answered(m)):.2f}",
    )
