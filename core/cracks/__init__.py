"""Crack classification: chip grids over orthomosaics, classifiers, transfer learning, stitching, Grad-CAM."""
