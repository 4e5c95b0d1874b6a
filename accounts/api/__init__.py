"""REST API for AWS accounts, discovery and the instance picker."""
