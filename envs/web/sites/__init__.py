"""Package data: the templates, CSS and JS of lma's own loopback sites (one folder per site)."""
