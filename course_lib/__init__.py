"""Noise to Art course library."""
