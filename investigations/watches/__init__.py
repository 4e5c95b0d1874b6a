"""Watches: an AWS-sourced run repeated on a schedule over each new window, with alerts."""
