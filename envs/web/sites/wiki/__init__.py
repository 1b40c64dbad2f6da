"""Package data of the wiki site (served by :mod:`lma.envs.web.wiki`)."""
