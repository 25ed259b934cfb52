"""The learned risk score (issue 16, item 3): declarations with their inspection outcomes in,
a gradient-boosted model out, every score shown with its per-feature contributions.

``kcs`` reads the Korea Customs Service declaration files, ``features`` turns declarations into
the model's columns with encodings fitted on training data only, ``model`` trains, stores,
checks and loads a model directory, ``metrics`` measures precision and recall at an inspection
rate. No SQL and no network here: files in, files out (docs/spec/risk.md, ADR 0025).
"""
