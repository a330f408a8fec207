"""Widgets of the replay app: each module renders one panel from arrays it is given."""
