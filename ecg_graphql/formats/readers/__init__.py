"""Readers of standard ECG files for `importEcg`: one module per format, listed in
`registry.READERS`; `sandbox` runs them in a separate, capped process."""
