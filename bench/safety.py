"""Risk detection benchmark: detection figures on the labelled sets and per-message cost.

    .venv/bin/python bench/safety.py            # figures for every labelled set
    .venv/bin/python bench/safety.py --misses   # also list the dev set's misclassifications

The sets, in tests/data/:
- risk_dev_set.jsonl: the rules were written against it (figures are optimistic).
- risk_blind_2.jsonl: written blind (by someone who had seen neither rules nor data),
  measured once before any tuning (FIRST_MEASURED below), then its misses were studied
  and general rules added. Its current figures are therefore optimistic too.
- risk_holdout.jsonl: written blind and never tuned on: the honest estimate of how the
  assessor does on messages it has never seen.
`--misses` lists dev-set errors only, on purpose: the holdout stays unread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from safespace.safety.assess import assess  # noqa: E402

DATA = ROOT / "tests" / "data"
LEVELS = ("none", "elevated", "imminent")

# Each blind set's figures at first contact, before anyone read its misses:
# (imminent recall, elevated recall, false alarms on none).
FIRST_MEASURED = {
    "blind set 1 (122 messages, now in the dev set)": (0.667, 0.828, 0.000),
    "blind set 2 (185 messages, now in the dev set)": (0.362, 0.413, 0.000),
    "blind set 3 (tests/data/risk_blind_2.jsonl, 203)": (0.471, 0.490, 0.010),
}
_ORDER = {level: i for i, level in enumerate(LEVELS)}


def load(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass(frozen=True)
class Figures:
    counts: dict[str, int]
    imminent_recall: float
    elevated_recall: float  # elevated or imminent counts as detected
    none_false_alarm_rate: float
    exact_accuracy: float
    confusion: dict[str, int]  # "gold->got": count


def figures(rows: list[dict[str, str]]) -> Figures:
    """Recall per level (elevated: elevated-or-higher), false alarms on none, accuracy."""
    confusion: Counter[tuple[str, str]] = Counter()
    for row in rows:
        confusion[(row["level"], assess(row["text"]).level)] += 1
    total = Counter(row["level"] for row in rows)

    def rate(hits: int, n: int) -> float:
        return hits / n if n else float("nan")

    return Figures(
        counts={level: total[level] for level in LEVELS},
        imminent_recall=rate(confusion[("imminent", "imminent")], total["imminent"]),
        elevated_recall=rate(
            confusion[("elevated", "elevated")] + confusion[("elevated", "imminent")],
            total["elevated"],
        ),
        none_false_alarm_rate=rate(
            confusion[("none", "elevated")] + confusion[("none", "imminent")], total["none"]
        ),
        exact_accuracy=rate(sum(confusion[(lv, lv)] for lv in LEVELS), len(rows)),
        confusion={
            f"{gold}->{got}": confusion[(gold, got)]
            for gold in LEVELS
            for got in LEVELS
            if confusion[(gold, got)]
        },
    )


def print_figures(title: str, fig: Figures) -> None:
    print(f"== {title}: {sum(fig.counts.values())} messages ==")
    print("  counts:           " + ", ".join(f"{k} {v}" for k, v in fig.counts.items()))
    print(f"  imminent recall:  {fig.imminent_recall:.3f}   (target >= 0.95)")
    print(f"  elevated recall:  {fig.elevated_recall:.3f}   (elevated or imminent; target >= 0.90)")
    print(f"  false alarms:     {fig.none_false_alarm_rate:.3f}   (on none; target <= 0.05)")
    print(f"  exact accuracy:   {fig.exact_accuracy:.3f}")
    print("  confusion (gold->got): " + ", ".join(f"{k} {v}" for k, v in fig.confusion.items()))


def cost(texts: list[str], at_least: int = 4000) -> dict[str, float]:
    """Per-message assessment time in microseconds (time.perf_counter_ns), over at least
    `at_least` assessments cycling through `texts` (the dev set's messages: typical
    support-group messages of every level, 10 to 150 characters)."""
    for text in texts:  # warm up
        assess(text)
    samples: list[float] = []
    while len(samples) < at_least:
        for text in texts:
            t0 = time.perf_counter_ns()
            assess(text)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return {
        "n": len(samples),
        "mean": statistics.fmean(samples),
        "p50": samples[len(samples) // 2],
        "p99": samples[int(len(samples) * 0.99)],
        "max": samples[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list dev-set errors")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    dev_rows = load("risk_dev_set.jsonl")
    dev = figures(dev_rows)
    blind = figures(load("risk_blind_2.jsonl"))
    holdout = figures(load("risk_holdout.jsonl"))
    c = cost([row["text"] for row in dev_rows])
    if args.json:
        out = {"dev": asdict(dev), "blind_2": asdict(blind), "holdout": asdict(holdout)}
        print(json.dumps({**out, "cost_us": c}, indent=2))
        return 0
    print_figures("dev set (tests/data/risk_dev_set.jsonl, tuned on)", dev)
    print_figures("blind set (tests/data/risk_blind_2.jsonl, tuned on after first contact)", blind)
    print_figures("holdout (tests/data/risk_holdout.jsonl, never tuned on)", holdout)
    print("== blind sets at first contact, before tuning (imminent / elevated / false alarms) ==")
    for name, (imm, elev, fa) in FIRST_MEASURED.items():
        print(f"  {name}: {imm:.3f} / {elev:.3f} / {fa:.3f}")
    print(
        f"== per-message cost over {c['n']:.0f} assessments of dev-set messages ==\n"
        f"  mean {c['mean']:.1f} us, p50 {c['p50']:.1f} us, p99 {c['p99']:.1f} us,"
        f" max {c['max']:.1f} us"
    )
    if args.misses:
        print("== dev-set misclassifications (gold -> got: signals | text) ==")
        for row in dev_rows:
            got = assess(row["text"])
            if got.level != row["level"]:
                miss = "MISS " if _ORDER[got.level] < _ORDER[row["level"]] else "ALARM"
                print(f"  {miss} {row['level']}->{got.level} {list(got.signals)} | {row['text']}")
    print(f"(took {time.perf_counter() - started:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
