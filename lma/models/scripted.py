"""``scripted:PATH.jsonl``: a model that replays fixed outputs, for tests and benchmarks.

Each line of the file is one output: a JSON string is returned as raw text (so malformed output
can be scripted too), any other JSON value is returned serialised. When the lines run out the
script starts again from the top, so a short script can drive a long run. No tokens are counted:
the scripted model costs nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lma.core import Usage
from lma.models.base import ChatModel, Completion, ModelError, parse_json


class ScriptedModel(ChatModel):
    def __init__(self, outputs: list[str], name: str = "scripted"):
        if not outputs:
            raise ModelError("a scripted model needs at least one output")
        self.outputs, self.name, self._next = outputs, name, 0

    @classmethod
    def from_file(cls, target: str) -> ScriptedModel:
        path = Path(target).expanduser()
        if not path.is_file():
            raise ModelError(f"scripted model file not found: {path}")
        outputs = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                value: Any = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ModelError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            outputs.append(value if isinstance(value, str) else json.dumps(value))
        return cls(outputs, name=f"scripted:{target}")

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        start = time.perf_counter()
        text = self.outputs[self._next % len(self.outputs)]
        self._next += 1
        parsed = parse_json(text) if schema is not None else None
        return Completion(text, parsed, Usage(latency=time.perf_counter() - start))


def from_spec(target: str, **options: str) -> ScriptedModel:
    return ScriptedModel.from_file(target)
