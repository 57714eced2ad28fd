"""The Discord edge: a discord.py bot over the newsroom, memory, tips and guild services.

Everything Discord-specific lives in this package; the services it calls never import
discord.py. One extension per feature under ``exts/``.
"""
