"""The demo's story: what each organisation does, the scans, and the verdicts expected."""
