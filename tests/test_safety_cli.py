"""`safespace safety assess`: one message per line in, one JSON object per line out."""

from __future__ import annotations

import json
import subprocess
import sys


def test_assess_reads_lines_and_prints_one_assessment_per_line() -> None:
    lines = [
        "this meeting killed me",
        "I don't want to be here anymore",
        "I have the pills ready and tonight is the night",
        "",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "safespace.cli", "safety", "assess"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["level"] for o in out] == ["none", "elevated", "imminent", "none"]
    assert all(isinstance(o["signals"], list) for o in out)
    assert out[0]["signals"] == [] and out[1]["signals"] and out[2]["signals"]
    assert "pills" not in result.stderr  # nothing of a message goes to the logs
