"""Model registry, promotion to champion, and batch inference."""
