//! The IO side, kept apart from the pure parser: a [`Loader`] reading the
//! file system and an [`Env`] reading the process environment.

use std::io;
use std::path::Path;

use crate::parser::{Env, Loader};

/// Reads files from the file system (UTF-8 required).
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Reads the process environment (variables that are not valid Unicode
/// count as unset).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        if name.is_empty() || name.contains(['=', '\0']) {
            return None;
        }
        std::env::var(name).ok()
    }
}
