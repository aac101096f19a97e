//! The bundle's Python virtual environment, kept in step with requirements.txt.
