"""Package data of the shop site (served by :mod:`lma.envs.web.shop`)."""
