"""Planning: the planner's prompt (:mod:`lma.planning.prompt`) and the constrained planner."""
