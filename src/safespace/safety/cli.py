"""`safespace safety assess`: one message per line in, one JSON object per line out.

    $ printf 'this meeting killed me\\ni want to die\\n' | safespace safety assess
    {"level": "none", "signals": [], "method_detail": false}
    {"level": "elevated", "signals": ["passive_ideation"], "method_detail": false}

Every input line gets exactly one output line, in order (an empty line is `none`), so the
output can be pasted next to the input. Nothing is sent anywhere and nothing is stored.
"""

from __future__ import annotations

import json
from typing import TextIO

from safespace.safety.assess import assess


def run_assess(stdin: TextIO, stdout: TextIO) -> int:
    for line in stdin:
        result = assess(line.rstrip("\r\n"))
        stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        stdout.flush()
    return 0
