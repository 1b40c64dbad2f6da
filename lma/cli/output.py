"""How commands print: plain fixed-width tables on stdout."""

from __future__ import annotations

import sys
from typing import Any


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def exit_code(results: list[Any]) -> int:
    """0, or 1 when every episode ended in an error (nothing was measured: say so, not "0% success")."""
    if results and all(r.error for r in results):
        print(f"lma: every one of the {len(results)} episodes ended in an error (first: {results[0].error})",
              file=sys.stderr)
        return 1
    return 0
