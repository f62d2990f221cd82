"""Model path (Gemini DF-ResNet, Kaldi fbank, extraction). The only place that imports torch."""
