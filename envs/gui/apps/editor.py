"""A plain text editor: one text area; Ctrl+S saves it to the file named in the title bar."""

import tkinter as tk
from tkinter import ttk

from tkapp import TkApp


class App(TkApp):
    title = "Editor"
    size = (640, 420)

    def build(self) -> None:
        self.filename = self.params["filename"]
        frame = ttk.Frame(self.root, padding=8)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=f"Editing {self.filename}  (Ctrl+S saves)").pack(anchor="w")
        self.text = tk.Text(frame, width=60, height=14, wrap="word", undo=True)
        self.text.pack(fill="both", expand=True, pady=6)
        self.text.insert("1.0", self.params.get("initial", ""))
        self.label(self.text, "Document")
        self.status = ttk.Label(frame, text="Not saved yet.")
        self.status.pack(anchor="w")
        self.root.bind_all("<Control-s>", self.save)

    def save(self, _event: object = None) -> str:
        content = self.text.get("1.0", "end-1c")
        tmp = self.workdir / f".{self.filename}.tmp"
        tmp.write_text(content)
        tmp.replace(self.workdir / self.filename)
        self.status["text"] = f"Saved {len(content)} characters to {self.filename}."
        return "break"
