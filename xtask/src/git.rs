//! Facts about the git repository around the bundle: branch, commit, origin.
