"""Reading flow files: YAML with line numbers, then the typed model, then validation (errors
name file, line and node)."""
