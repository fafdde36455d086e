"""voc: voice-of-customer text mining for Chinese and English feedback."""

__version__ = "0.1.0"
