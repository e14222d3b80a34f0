"""vlm-refactor: carry out a written refactoring plan on a VLM training repository."""

__version__ = "0.1.0"
