"""I/O at the edge: raster headers, reads, warps, atomic writes, JSON codec, manifest.

Windowed reads fill what lies outside a raster and mask it; every file is written
atomically (``atomic``); frozen values round-trip through JSON (``codec``).
"""
