"""Reports: figures and Markdown/HTML documents built from result tables."""
