"""Turning a finished edition into something people read outside Discord."""

from snitch.render.html import render_html

__all__ = ["render_html"]
