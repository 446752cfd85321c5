"""Raster I/O at the edge: metadata, windowed reads with edge fill and masks, warping."""
