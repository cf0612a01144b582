//! Items to tree: nats-server's `conf/parse.go`, with includes and
//! environment variables going through caller-supplied functions.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::lexer::{ItemKind, Lexer};
use crate::units::parse_size;
use crate::value::{DateTime, Map, Pos, Value, ValueKind};

/// Deepest nesting of maps and arrays accepted (nats-server has no limit;
/// one keeps the tree's recursive code within any thread's stack).
pub const MAX_DEPTH: usize = 64;
/// Deepest nesting of `include`s accepted.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Most values one parse may produce, includes, variable copies and
/// environment values counted (a few `$var` references can otherwise copy
/// a tree exponentially).
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting of environment variables whose values reference
/// environment variables.
const MAX_ENV_DEPTH: usize = 8;

/// Reads included files (and, for [`parse_file`](crate::parse_file), the
/// top-level file). The parser itself does no IO.
///
/// Implemented for any `Fn(&Path) -> io::Result<String>`; the
/// [`fs::FsLoader`](crate::fs::FsLoader) reads the file system.
pub trait Loader {
    /// The contents of the file at `path`.
    fn load(&self, path: &Path) -> io::Result<String>;
}

impl<F: Fn(&Path) -> io::Result<String>> Loader for F {
    fn load(&self, path: &Path) -> io::Result<String> {
        self(path)
    }
}

/// A [`Loader`] that refuses every file: `include` is then an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIncludes;

impl Loader for NoIncludes {
    fn load(&self, path: &Path) -> io::Result<String> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("no loader for {}", path.display()),
        ))
    }
}

/// Looks up environment variables, the fallback of `$name` references.
///
/// Implemented for any `Fn(&str) -> Option<String>`; the
/// [`fs::ProcessEnv`](crate::fs::ProcessEnv) reads the process environment.
pub trait Env {
    /// The value of the variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// An [`Env`] with no variables.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

/// Parses `text`, the contents of the file `file` (used in positions, and
/// whose directory `include`s are relative to).
pub fn parse_str(
    file: impl AsRef<Path>,
    text: &str,
    loader: &dyn Loader,
    env: &dyn Env,
) -> Result<Map, Error> {
    let file = file.as_ref();
    let mut shared = Shared {
        loader,
        env,
        includes: vec![clean(file)],
        nodes: 0,
        env_depth: 0,
    };
    parse_doc(&mut shared, Arc::from(file), text, true)
}

/// Reads `path` through `loader` and parses it.
pub fn parse_file(
    path: impl AsRef<Path>,
    loader: &dyn Loader,
    env: &dyn Env,
) -> Result<Map, Error> {
    let path = path.as_ref();
    let text = loader.load(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(path, &text, loader, env)
}

struct Shared<'a> {
    loader: &'a dyn Loader,
    env: &'a dyn Env,
    /// Files being parsed, outermost first (cleaned paths).
    includes: Vec<PathBuf>,
    nodes: usize,
    env_depth: usize,
}

/// One file (or environment value) being parsed.
struct Doc<'t> {
    text: &'t str,
    file: Arc<Path>,
    /// Byte offsets of line starts.
    lines: Vec<usize>,
}

impl Doc<'_> {
    fn pos(&self, offset: usize) -> Pos {
        let line = self.lines.partition_point(|&s| s <= offset).max(1);
        let start = self.lines.get(line - 1).copied().unwrap_or(0);
        let column = match self.text.get(start..offset) {
            Some(s) => s.chars().count(),
            None => offset.saturating_sub(start),
        };
        Pos::new(
            self.file.clone(),
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column + 1).unwrap_or(u32::MAX),
        )
    }

    fn syntax(&self, offset: usize, msg: impl Into<String>) -> Error {
        Error::Syntax {
            pos: self.pos(offset),
            msg: msg.into(),
        }
    }
}

enum Ctx {
    Map {
        map: Map,
        /// The key waiting for its value.
        pending: Option<(String, Pos)>,
        pos: Pos,
    },
    Array {
        items: Vec<Value>,
        pos: Pos,
    },
}

fn too_large(pos: Pos, what: impl Into<String>) -> Error {
    Error::TooLarge {
        pos,
        what: what.into(),
    }
}

fn parse_doc(
    shared: &mut Shared<'_>,
    file: Arc<Path>,
    text: &str,
    allow_include: bool,
) -> Result<Map, Error> {
    let mut lines = vec![0];
    lines.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let doc = Doc { text, file, lines };
    if let Some(i) = text.find('\0') {
        return Err(doc.syntax(i, "NUL character in configuration"));
    }
    let dir = doc.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut lx = Lexer::new(text);
    let mut ctxs = vec![Ctx::Map {
        map: Map::new(),
        pending: None,
        pos: doc.pos(0),
    }];
    loop {
        let item = lx.next_item().map_err(|e| doc.syntax(e.offset, e.msg))?;
        let pos = doc.pos(item.offset);
        let kind = match item.kind {
            ItemKind::Eof => break,
            ItemKind::Key => {
                match ctxs.last_mut() {
                    Some(Ctx::Map { pending, .. }) => {
                        if let Some((k, p)) = pending.take() {
                            return Err(Error::Syntax {
                                pos: p,
                                msg: format!("key '{k}' has no value"),
                            });
                        }
                        *pending = Some((item.val, pos));
                    }
                    _ => return Err(doc.syntax(item.offset, "unexpected key")),
                }
                continue;
            }
            ItemKind::String => ValueKind::String(item.val),
            ItemKind::Bool => match item.val.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => ValueKind::Bool(true),
                "false" | "no" | "off" => ValueKind::Bool(false),
                _ => {
                    return Err(doc.syntax(
                        item.offset,
                        format!("expected boolean value, but got '{}'", item.val),
                    ))
                }
            },
            ItemKind::Integer => match parse_size(&item.val) {
                Ok(i) => ValueKind::Int(i),
                Err(msg) => return Err(doc.syntax(item.offset, msg)),
            },
            ItemKind::Float => match item.val.parse::<f64>() {
                Ok(f) if f.is_finite() => ValueKind::Float(f),
                _ => {
                    return Err(
                        doc.syntax(item.offset, format!("float '{}' is out of range", item.val))
                    )
                }
            },
            ItemKind::DateTime => match DateTime::parse(&item.val) {
                Some(d) => ValueKind::DateTime(d),
                None => {
                    return Err(doc.syntax(
                        item.offset,
                        format!("expected Zulu formatted DateTime, but got '{}'", item.val),
                    ))
                }
            },
            ItemKind::ArrayStart | ItemKind::MapStart => {
                if ctxs.len() > MAX_DEPTH {
                    return Err(too_large(
                        pos,
                        format!("maps and arrays nested deeper than {MAX_DEPTH}"),
                    ));
                }
                count(shared, 1, &pos)?;
                ctxs.push(if item.kind == ItemKind::ArrayStart {
                    Ctx::Array {
                        items: Vec::new(),
                        pos,
                    }
                } else {
                    Ctx::Map {
                        map: Map::new(),
                        pending: None,
                        pos,
                    }
                });
                continue;
            }
            ItemKind::ArrayEnd | ItemKind::MapEnd => {
                if ctxs.len() < 2 {
                    return Err(doc.syntax(item.offset, "unbalanced closing bracket"));
                }
                let value = match ctxs.pop() {
                    Some(Ctx::Array { items, pos }) if item.kind == ItemKind::ArrayEnd => {
                        Value::new(ValueKind::Array(items), pos)
                    }
                    Some(Ctx::Map { map, pending, pos }) if item.kind == ItemKind::MapEnd => {
                        if let Some((k, p)) = pending {
                            return Err(Error::Syntax {
                                pos: p,
                                msg: format!("key '{k}' has no value"),
                            });
                        }
                        Value::new(ValueKind::Map(map), pos)
                    }
                    _ => return Err(doc.syntax(item.offset, "mismatched closing bracket")),
                };
                set_value(&mut ctxs, value, &doc, item.offset)?;
                continue;
            }
            ItemKind::Variable => {
                let value = lookup_variable(shared, &mut ctxs, &item.val, &pos)?;
                check_depth(&ctxs, &value)?;
                set_value(&mut ctxs, value, &doc, item.offset)?;
                continue;
            }
            ItemKind::Include => {
                if !allow_include {
                    return Err(doc.syntax(
                        item.offset,
                        "include is not allowed in an environment variable",
                    ));
                }
                if !matches!(ctxs.last(), Some(Ctx::Map { pending: None, .. })) {
                    return Err(doc.syntax(item.offset, "unexpected include"));
                }
                let level = ctxs.len() - 1;
                let map = include(shared, &dir, &item.val, &pos)?;
                let Some(Ctx::Map { map: into, .. }) = ctxs.last_mut() else {
                    return Err(doc.syntax(item.offset, "unexpected include"));
                };
                for entry in map.into_entries() {
                    if level + entry.value.depth() > MAX_DEPTH {
                        return Err(too_large(
                            entry.key_pos,
                            format!("maps and arrays nested deeper than {MAX_DEPTH}"),
                        ));
                    }
                    into.insert_entry(entry);
                }
                continue;
            }
        };
        count(shared, 1, &pos)?;
        set_value(&mut ctxs, Value::new(kind, pos), &doc, item.offset)?;
    }
    match ctxs.pop() {
        Some(Ctx::Map {
            map, pending: None, ..
        }) if ctxs.is_empty() => Ok(map),
        Some(Ctx::Map {
            pending: Some((k, p)),
            ..
        }) if ctxs.is_empty() => Err(Error::Syntax {
            pos: p,
            msg: format!("key '{k}' has no value"),
        }),
        _ => Err(doc.syntax(text.len(), "unexpected EOF")),
    }
}

fn count(shared: &mut Shared<'_>, n: usize, pos: &Pos) -> Result<(), Error> {
    shared.nodes = shared.nodes.saturating_add(n);
    if shared.nodes > MAX_NODES {
        return Err(too_large(
            pos.clone(),
            format!("configuration has more than {MAX_NODES} values"),
        ));
    }
    Ok(())
}

fn check_depth(ctxs: &[Ctx], value: &Value) -> Result<(), Error> {
    if ctxs.len() - 1 + value.depth() > MAX_DEPTH {
        return Err(too_large(
            value.pos.clone(),
            format!("maps and arrays nested deeper than {MAX_DEPTH}"),
        ));
    }
    Ok(())
}

fn set_value(ctxs: &mut [Ctx], value: Value, doc: &Doc<'_>, offset: usize) -> Result<(), Error> {
    match ctxs.last_mut() {
        Some(Ctx::Array { items, .. }) => {
            items.push(value);
            Ok(())
        }
        Some(Ctx::Map { map, pending, .. }) => match pending.take() {
            Some((key, key_pos)) => {
                map.insert(key, key_pos, value);
                Ok(())
            }
            None => Err(doc.syntax(offset, "value without a key")),
        },
        None => Err(doc.syntax(offset, "value outside of any map")),
    }
}

/// nats-server's `lookupVariable`: keys already defined in the enclosing
/// maps, innermost first, then the environment (whose value is parsed as a
/// value). `$2a$…` is a bcrypt hash, not a reference.
fn lookup_variable(
    shared: &mut Shared<'_>,
    ctxs: &mut [Ctx],
    name: &str,
    pos: &Pos,
) -> Result<Value, Error> {
    if name.starts_with("2a$") {
        count(shared, 1, pos)?;
        return Ok(Value::new(
            ValueKind::String(format!("${name}")),
            pos.clone(),
        ));
    }
    for ctx in ctxs.iter_mut().rev() {
        if let Ctx::Map { map, .. } = ctx {
            if let Some(v) = map.use_variable(name) {
                count(shared, v.node_count(), pos)?;
                let mut v = v.clone();
                v.pos = pos.clone();
                return Ok(v);
            }
        }
    }
    let Some(text) = shared.env.var(name) else {
        return Err(Error::UndefinedVariable {
            pos: pos.clone(),
            name: name.to_string(),
        });
    };
    if shared.env_depth >= MAX_ENV_DEPTH {
        return Err(Error::BadEnvVariable {
            pos: pos.clone(),
            name: name.to_string(),
            msg: "environment variables reference each other too deeply".into(),
        });
    }
    shared.env_depth += 1;
    let file: Arc<Path> = Arc::from(Path::new(&format!("${name}")));
    let parsed = parse_doc(shared, file, &format!("pk={text}"), false);
    shared.env_depth -= 1;
    match parsed {
        Ok(map) => match map.get("pk") {
            Some(v) => {
                let mut v = v.clone();
                v.relocate(pos);
                Ok(v)
            }
            None => Err(Error::UndefinedVariable {
                pos: pos.clone(),
                name: name.to_string(),
            }),
        },
        Err(e) => Err(Error::BadEnvVariable {
            pos: pos.clone(),
            name: name.to_string(),
            msg: e.to_string(),
        }),
    }
}

fn include(shared: &mut Shared<'_>, dir: &Path, name: &str, pos: &Pos) -> Result<Map, Error> {
    let path = go_join(dir, name);
    if shared.includes.contains(&path) {
        return Err(Error::IncludeCycle {
            pos: pos.clone(),
            path,
        });
    }
    if shared.includes.len() > MAX_INCLUDE_DEPTH {
        return Err(too_large(
            pos.clone(),
            format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"),
        ));
    }
    let text = shared.loader.load(&path).map_err(|source| Error::Include {
        pos: pos.clone(),
        path: path.clone(),
        source,
    })?;
    shared.includes.push(path.clone());
    let parsed = parse_doc(shared, Arc::from(path.as_path()), &text, true);
    shared.includes.pop();
    parsed
}

/// Go's `filepath.Join(dir, name)`: `name` is relative to `dir` even when
/// it starts with `/`, and the result is cleaned lexically.
pub(crate) fn go_join(dir: &Path, name: &str) -> PathBuf {
    let mut p = dir.to_path_buf();
    for c in Path::new(name).components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {}
            other => p.push(other),
        }
    }
    clean(&p)
}

/// Go's `filepath.Clean`: drops `.`, resolves `..` lexically.
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_join_is_relative_and_clean() {
        assert_eq!(
            go_join(Path::new("/etc/nats"), "a.conf"),
            Path::new("/etc/nats/a.conf")
        );
        assert_eq!(
            go_join(Path::new("/etc/nats"), "/x/a.conf"),
            Path::new("/etc/nats/x/a.conf")
        );
        assert_eq!(go_join(Path::new("conf"), "../a.conf"), Path::new("a.conf"));
        assert_eq!(go_join(Path::new(""), "./a.conf"), Path::new("a.conf"));
        assert_eq!(go_join(Path::new(""), "../a.conf"), Path::new("../a.conf"));
        assert_eq!(go_join(Path::new("/"), "../a.conf"), Path::new("/a.conf"));
        assert_eq!(clean(Path::new("")), Path::new("."));
    }
}
