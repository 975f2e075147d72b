"""One module per chapter: the paper's published numbers, the chapter's experiments (run through adlib.detectors), its figures and its verdict."""
