"""Tests of the key tooling (keys/)."""
