//! Which files belong to the bundle: ignore rules, `sync.include/exclude`, notebooks.
