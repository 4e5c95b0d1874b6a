"""Tests for AWS accounts: validation, assume-role, discovery, connection test, pages, API."""
