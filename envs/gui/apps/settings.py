"""A settings dialog: four switches (check boxes), a language drop-down, a volume slider, Apply.

Apply writes ``settings.json`` with every value as shown.
"""

import tkinter as tk
from tkinter import ttk

from tkapp import TkApp

SWITCHES = ("Wi-Fi", "Bluetooth", "Dark mode", "Notifications")
LANGUAGES = ("English", "German", "French", "Spanish", "Italian", "Dutch")


class App(TkApp):
    title = "Settings"
    size = (520, 380)

    def build(self) -> None:
        frame = ttk.Frame(self.root, padding=16)
        frame.pack(fill="both", expand=True)
        title = ttk.Label(frame, text="Settings", font=("DejaVu Sans", 14, "bold"))
        title.grid(row=0, column=0, columnspan=2, sticky="w")
        start = self.params.get("switches", {})
        self.switches = {name: tk.BooleanVar(value=bool(start.get(name))) for name in SWITCHES}
        for i, (name, var) in enumerate(self.switches.items()):
            ttk.Checkbutton(frame, text=name, variable=var).grid(row=1 + i, column=0, columnspan=2, sticky="w", pady=3)
        ttk.Label(frame, text="Language").grid(row=5, column=0, sticky="w", pady=10, padx=(0, 12))
        self.language = ttk.Combobox(frame, values=LANGUAGES, state="readonly", width=14)
        self.language.set(self.params.get("language", LANGUAGES[0]))
        self.language.grid(row=5, column=1, sticky="w")
        self.label(self.language, "Language")
        ttk.Label(frame, text="Volume").grid(row=6, column=0, sticky="w", padx=(0, 12))
        self.volume = tk.Scale(frame, from_=0, to=100, orient="horizontal", length=303, resolution=1,
                               sliderlength=20, showvalue=True)
        self.volume.set(self.params.get("volume", 50))
        self.volume.grid(row=6, column=1, sticky="w")
        self.label(self.volume, "Volume")
        ttk.Button(frame, text="Apply", command=self.apply).grid(row=7, column=0, sticky="w", pady=12)
        self.status = ttk.Label(frame, text="")
        self.status.grid(row=7, column=1, sticky="w")

    def apply(self) -> None:
        self.write_json("settings.json", {
            "switches": {name: var.get() for name, var in self.switches.items()},
            "language": self.language.get(), "volume": int(self.volume.get()),
        })
        self.status["text"] = "Settings applied."

    def state(self) -> dict:
        # Where the slider's centre is for the lowest and highest value: the oracle drags by it.
        ends = [self.volume.coords(v) for v in (self.volume["from"], self.volume["to"])]
        x, y = self.volume.winfo_rootx(), self.volume.winfo_rooty()
        return {"volume_ends": [[x + px, y + py] for px, py in ends]}
