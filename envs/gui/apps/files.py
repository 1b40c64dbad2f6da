"""A file list: a long scrolling list of names; double-clicking a name opens it.

Opening appends the name to ``opened.log`` and shows it below the list.
"""

import tkinter as tk
from tkinter import ttk

from tkapp import TkApp


class App(TkApp):
    title = "Files"
    size = (420, 360)

    def build(self) -> None:
        frame = ttk.Frame(self.root, padding=16)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text="Documents", font=("DejaVu Sans", 14, "bold")).pack(anchor="w")
        box = ttk.Frame(frame)
        box.pack(fill="x", pady=8)
        self.listbox = tk.Listbox(box, height=9, width=32, activestyle="none", exportselection=False)
        scrollbar = ttk.Scrollbar(box, orient="vertical", command=self.listbox.yview)
        self.listbox.configure(yscrollcommand=scrollbar.set)
        self.listbox.pack(side="left")
        scrollbar.pack(side="left", fill="y")
        self.label(self.listbox, "Files")
        for name in self.params["files"]:
            self.listbox.insert("end", name)
        self.listbox.bind("<Double-Button-1>", self.open)
        self.status = ttk.Label(frame, text="Double-click a file to open it.")
        self.status.pack(anchor="w")

    def open(self, event: tk.Event) -> None:
        index = self.listbox.nearest(event.y)
        if index < 0:
            return
        name = self.listbox.get(index)
        self.log("opened.log", name)
        self.status["text"] = f"Opened {name}"
