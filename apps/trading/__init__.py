"""Simulation, token safety, fees, balances, orders, bundles, fallback, sniper."""
