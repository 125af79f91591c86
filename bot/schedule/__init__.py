"""When posts go out: the planner, recurrence and weekly slots."""
