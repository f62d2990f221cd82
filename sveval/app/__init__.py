"""The jobs sveval runs, one module each, each taking one options object."""
