"""Running episodes: the episode loop, recording, worker pools, shared model servers, ``lma eval`` jobs."""
