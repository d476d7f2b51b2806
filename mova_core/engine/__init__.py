"""Running workflows: the attempt loop, policies, templates, the run context and the actions."""
