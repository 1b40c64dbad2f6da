"""A sign-up form: two text fields, a plan (radio buttons), a newsletter box, Submit.

Submit writes ``submission.json`` with the values as they are at that moment.
"""

import tkinter as tk
from tkinter import ttk

from tkapp import TkApp

PLANS = ("Free", "Pro", "Team")


class App(TkApp):
    title = "Sign-up form"
    size = (560, 320)

    def build(self) -> None:
        frame = ttk.Frame(self.root, padding=16)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text="Create your account", font=("DejaVu Sans", 14, "bold")).grid(
            row=0, column=0, columnspan=4, sticky="w", pady=(0, 12))
        self.name = self._field(frame, 1, "Full name")
        self.email = self._field(frame, 2, "Email")
        ttk.Label(frame, text="Plan").grid(row=3, column=0, sticky="w", pady=6, padx=(0, 12))
        self.plan = tk.StringVar(value="none")
        for i, plan in enumerate(PLANS):
            ttk.Radiobutton(frame, text=plan, value=plan, variable=self.plan).grid(row=3, column=1 + i, sticky="w")
        self.newsletter = tk.BooleanVar(value=False)
        ttk.Checkbutton(frame, text="Send me the newsletter", variable=self.newsletter).grid(
            row=4, column=1, columnspan=3, sticky="w", pady=6)
        ttk.Button(frame, text="Submit", command=self.submit).grid(row=5, column=1, sticky="w", pady=12)
        self.status = ttk.Label(frame, text="")
        self.status.grid(row=6, column=1, columnspan=3, sticky="w")

    def _field(self, frame: ttk.Frame, row: int, text: str) -> ttk.Entry:
        ttk.Label(frame, text=text).grid(row=row, column=0, sticky="w", pady=6, padx=(0, 12))
        entry = ttk.Entry(frame, width=30)
        entry.grid(row=row, column=1, columnspan=3, sticky="w")
        self.label(entry, text)
        return entry

    def submit(self) -> None:
        self.write_json("submission.json", {
            "name": self.name.get(), "email": self.email.get(),
            "plan": self.plan.get() if self.plan.get() in PLANS else None, "newsletter": self.newsletter.get(),
        })
        self.status["text"] = "Thank you, the form was submitted."
