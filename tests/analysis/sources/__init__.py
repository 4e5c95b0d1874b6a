"""Tests of analysis.sources: the file, S3 and CloudWatch log sources against moto."""
