"""Screens of the replay app: help, episode picker, seek prompt, error."""
