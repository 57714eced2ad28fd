"""Tests for the HTML edition."""
