"""Analyses: one pure numpy function per module, listed explicitly in `registry`."""
