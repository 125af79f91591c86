"""Publishing what is due, exactly once: the runner, the publisher, pacing and dry runs."""
