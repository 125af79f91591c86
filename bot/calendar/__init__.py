"""The calendar page: the plan as a static site of toot cards."""
