"""The Tk programs of the desktop tasks; each runs as its own process (see tkapp.py), not imported."""
