"""Models trained on frozen dataset versions: runs, comparisons, error analysis, the model at the line."""
