"""Turning a finished edition into something people read: an HTML page, Discord messages."""

from snitch.render.discord import render_discord
from snitch.render.html import render_html

__all__ = ["render_discord", "render_html"]
