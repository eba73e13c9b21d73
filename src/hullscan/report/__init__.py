"""Reporters: one module per output format, each a function ``Inventory -> str``."""
