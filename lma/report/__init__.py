"""Reports on runs: statistics (intervals, paired tests), plots, ``report.md`` and ``report.html``."""
