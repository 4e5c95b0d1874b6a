"""Investigation reports (Markdown and PDF) and the managers' cross-investigation summary."""
