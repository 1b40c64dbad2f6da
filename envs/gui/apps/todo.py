"""A to-do list: add tasks, mark them done or delete them (right-click menu), Save.

Save writes ``todo.json``: the list of ``{"text", "done"}`` as shown.
"""

import tkinter as tk
from tkinter import ttk

from tkapp import TkApp


class App(TkApp):
    title = "To-do"
    size = (520, 400)

    def build(self) -> None:
        self.items = [{"text": text, "done": False} for text in self.params.get("items", [])]
        self.menu_for: int | None = None
        frame = ttk.Frame(self.root, padding=16)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text="To-do list", font=("DejaVu Sans", 14, "bold")).pack(anchor="w")
        row = ttk.Frame(frame)
        row.pack(fill="x", pady=8)
        self.entry = ttk.Entry(row, width=28)
        self.entry.pack(side="left")
        self.entry.bind("<Return>", lambda _: self.add())
        self.label(self.entry, "New task")
        ttk.Button(row, text="Add", command=self.add).pack(side="left", padx=8)
        self.listbox = tk.Listbox(frame, height=8, activestyle="none", exportselection=False)
        self.listbox.pack(fill="x")
        self.label(self.listbox, "Tasks")
        self.listbox.bind("<Button-3>", self.popup)
        self.menu = tk.Menu(self.root, tearoff=False)
        self.menu.add_command(label="Mark done", command=lambda: self.change("done"))
        self.menu.add_command(label="Delete", command=lambda: self.change("delete"))
        ttk.Button(frame, text="Save", command=self.save).pack(anchor="w", pady=8)
        self.status = ttk.Label(frame, text="Right-click a task to mark it done or delete it.")
        self.status.pack(anchor="w")
        self.refresh()

    def refresh(self) -> None:
        self.listbox.delete(0, "end")
        for item in self.items:
            self.listbox.insert("end", ("[x] " if item["done"] else "[ ] ") + item["text"])

    def add(self) -> None:
        text = self.entry.get().strip()
        if text:
            self.items.append({"text": text, "done": False})
            self.entry.delete(0, "end")
            self.refresh()

    def popup(self, event: tk.Event) -> None:
        index = self.listbox.nearest(event.y)
        bbox = self.listbox.bbox(index)
        if index < 0 or not bbox or not bbox[1] <= event.y < bbox[1] + bbox[3]:
            return
        self.menu_for = index
        self.listbox.selection_clear(0, "end")
        self.listbox.selection_set(index)
        self.menu.tk_popup(event.x_root, event.y_root)

    def change(self, action: str) -> None:
        if self.menu_for is None:
            return
        if action == "delete":
            del self.items[self.menu_for]
        else:
            self.items[self.menu_for]["done"] = True
        self.menu_for = None
        self.refresh()

    def save(self) -> None:
        self.write_json("todo.json", self.items)
        self.status["text"] = f"Saved {len(self.items)} tasks."

    def state(self) -> dict:
        target = self.items[self.menu_for]["text"] if self.menu_for is not None else None
        return {"items": self.items, "menu_for": target}
