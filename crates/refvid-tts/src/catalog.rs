//! Which voices exist: the installed ones and those in `--voices-dir`, by name.
