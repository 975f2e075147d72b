"""Data: embedded generators (no download at run time) and loaders for real data folders."""
