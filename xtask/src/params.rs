//! `project_params.json`: load and validate (DESIGN §3).
