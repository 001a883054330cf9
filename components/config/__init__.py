"""Configuration: one frozen dataclass per component (sections, train), the grammars of text values and
the one place overrides from flags, `--set` and files are applied (overrides)."""
