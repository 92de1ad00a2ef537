"""pump.fun polling, Twitter mentions, and email one-time-password login."""
