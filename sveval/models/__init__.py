"""Model path (Gemini DF-ResNet, Kaldi fbank, extraction). The only place that imports torch.

Importing this package does not import torch; its modules do. Commands call `require_torch()` first so a
missing torch is one clear error instead of a traceback.
"""

from __future__ import annotations

from sveval.errors import InputError


def require_torch() -> None:
    """Raise InputError saying how to install the model extra when torch or soundfile is missing."""
    missing = []
    for module in ("torch", "soundfile", "yaml"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise InputError(
            f"this command needs {', '.join(missing)}: install the model extra, pip install 'sveval[model]' "
            "(CPU-only: install torch from https://download.pytorch.org/whl/cpu first)"
        )
