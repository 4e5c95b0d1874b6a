"""Analyses pushed down to Amazon Athena: table DDL, the `flows` relation in Trino SQL, analyzer
SQL rendered for Trino, and the Athena API plumbing. No Django here."""
