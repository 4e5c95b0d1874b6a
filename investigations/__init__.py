"""Investigations: cases, query runs over flow logs, their results, and the pages and API."""
