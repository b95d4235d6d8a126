"""mmctl: marketing messages on Messenger, managed as code."""

__version__ = "0.1.0"
