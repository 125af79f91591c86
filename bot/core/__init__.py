"""The domain at the bottom of every layer: posts, states, limits, times, the clock, errors."""
