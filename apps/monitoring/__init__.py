"""Geyser subscriber, migration detector, Pulse, and the platform's own metrics."""
