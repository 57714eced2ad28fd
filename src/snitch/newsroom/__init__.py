"""The three-desk newsroom: News Desk finds stories, Editor-in-Chief picks, Star Reporter writes.

Nothing here imports discord: the newsroom works on domain models only.
"""
