"""Data: MATLAB-compatible resizing, benchmark folders and training datasets."""
