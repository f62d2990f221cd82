"""Data package: the manifest of the built-in VoxCeleb1 trial lists (manifest.json, see README.md)."""
