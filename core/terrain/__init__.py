"""Terrain factors derived from a DEM, and distance-to-feature rasters derived from vector layers."""
