"""A pocket calculator: digit and operator buttons, C and =; no keyboard input.

Like a pocket calculator it works left to right (``2+3*4`` is 20); ``=`` shows the result and
appends ``expression=result`` to ``calc.log``. Integers only; a division keeps two decimals.
"""

import tkinter as tk
from tkinter import ttk

from tkapp import TkApp

KEYS = ("789/", "456*", "123-", "C0=+")


def evaluate(expression: str) -> str:
    """Left to right over numbers and + - * /, as a pocket calculator does."""
    total, op, number = 0.0, "+", ""
    for ch in expression + "+":
        if ch.isdigit():
            number += ch
            continue
        value = float(number or 0)
        if op == "+":
            total += value
        elif op == "-":
            total -= value
        elif op == "*":
            total *= value
        elif value == 0:
            return "Error"
        else:
            total /= value
        op, number = ch, ""
    return str(int(total)) if total == int(total) else f"{total:.2f}"


class App(TkApp):
    title = "Calculator"
    size = (340, 360)

    def build(self) -> None:
        self.expression, self.done = "", False
        frame = ttk.Frame(self.root, padding=12)
        frame.pack(fill="both", expand=True)
        self.display = tk.Label(frame, text="0", anchor="e", relief="sunken", bg="white",
                                font=("DejaVu Sans Mono", 18), width=14)
        self.display.grid(row=0, column=0, columnspan=4, sticky="ew", pady=(0, 10))
        self.label(self.display, "Display")
        for r, row in enumerate(KEYS):
            for c, key in enumerate(row):
                tk.Button(frame, text=key, width=3, font=("DejaVu Sans", 16),
                          command=lambda k=key: self.press(k)).grid(row=1 + r, column=c, padx=3, pady=3)

    def press(self, key: str) -> None:
        if key == "C":
            self.expression = ""
        elif key == "=":
            if self.expression:
                result = evaluate(self.expression)
                self.log("calc.log", f"{self.expression}={result}")
                self.display["text"], self.expression, self.done = result, "", True
            return
        else:
            if key in "+-*/" and not self.expression:
                return
            self.expression += key
        self.done = False
        self.display["text"] = self.expression or "0"

    def state(self) -> dict:
        return {"expression": self.expression}
