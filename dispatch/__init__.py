"""Dispatch 112: the command-center server of a city 112 emergency call centre."""
