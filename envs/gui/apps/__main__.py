"""Run one of the Tk apps: ``python envs/gui/apps NAME WORKDIR`` (see tkapp.py)."""

import importlib
import sys

if __name__ == "__main__":
    name, workdir = sys.argv[1], sys.argv[2]
    importlib.import_module(name).App(workdir).run()
