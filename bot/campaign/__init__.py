"""Campaign files: safe line-aware YAML, the file schema, the rules, character counting, loading."""
