"""Raster grids, aligned stacking onto a reference grid, and windowed, atomic raster I/O."""
