//! The tree a configuration file parses into: [`Value`]s with their
//! [`Pos`]itions, [`Map`]s that keep their keys in file order.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where something is in a configuration file: the file (as named by the
/// caller, or as an include resolved it), the line and the column, both
/// 1-based. Columns count Unicode scalar values, not bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    /// The file, as given to [`parse_str`](crate::parse_str) /
    /// [`parse_file`](crate::parse_file) or resolved for an `include`.
    pub file: Arc<Path>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
}

impl Pos {
    /// A position in `file`.
    pub fn new(file: Arc<Path>, line: u32, column: u32) -> Self {
        Pos { file, line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A value of the configuration tree, with the position it was written at.
///
/// A value produced by a `$VARIABLE` reference carries the position of the
/// reference (its nested values keep the positions of the definition), and
/// a value read from an environment variable carries, with all its nested
/// values and keys, the position of the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What the value is.
    pub kind: ValueKind,
    /// Where it was written.
    pub pos: Pos,
}

/// The kinds of values of the NATS configuration format.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// `true`/`false`, `yes`/`no`, `on`/`off` (any case), unquoted.
    Bool(bool),
    /// An integer, with its size suffix already applied: `k`, `m`, `g`,
    /// `t`, `p`, `e` multiply by powers of 1000; `kb`/`ki`/`kib`, `mb`, …
    /// by powers of 1024 (case-insensitive), as nats-server does.
    Int(i64),
    /// A number with a fraction, such as `2.5`.
    Float(f64),
    /// A string: quoted (`"…"` with escapes, `'…'` raw), unquoted, or a
    /// `( … )` block.
    String(String),
    /// A Zulu ISO 8601 date-time, `2016-05-04T18:53:41Z`.
    DateTime(DateTime),
    /// `[ … ]`.
    Array(Vec<Value>),
    /// `{ … }`.
    Map(Map),
}

impl ValueKind {
    /// The name Go's `reflect.Kind` gives this kind of value, as used in
    /// nats-streaming-server's `parameter "<k>" value is expected to be
    /// <kind>, got <kind>`: `bool`, `int64`, `float64`, `string`, `struct`
    /// (a date-time is a Go `time.Time`), `slice`, `map`.
    pub fn go_kind(&self) -> &'static str {
        match self {
            ValueKind::Bool(_) => "bool",
            ValueKind::Int(_) => "int64",
            ValueKind::Float(_) => "float64",
            ValueKind::String(_) => "string",
            ValueKind::DateTime(_) => "struct",
            ValueKind::Array(_) => "slice",
            ValueKind::Map(_) => "map",
        }
    }
}

impl Value {
    /// A new value.
    pub fn new(kind: ValueKind, pos: Pos) -> Self {
        Value { kind, pos }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            ValueKind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The float, if this is one.
    pub fn as_float(&self) -> Option<f64> {
        match self.kind {
            ValueKind::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            ValueKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Number of values in this tree (this one included).
    pub(crate) fn node_count(&self) -> usize {
        match &self.kind {
            ValueKind::Array(a) => 1 + a.iter().map(Value::node_count).sum::<usize>(),
            ValueKind::Map(m) => 1 + m.iter().map(|e| e.value.node_count()).sum::<usize>(),
            _ => 1,
        }
    }

    /// Nesting depth of this tree: 0 for a scalar, 1 for a flat array/map.
    pub(crate) fn depth(&self) -> usize {
        match &self.kind {
            ValueKind::Array(a) => 1 + a.iter().map(Value::depth).max().unwrap_or(0),
            ValueKind::Map(m) => 1 + m.iter().map(|e| e.value.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Moves this value, all nested values and keys to `pos`.
    pub(crate) fn relocate(&mut self, pos: &Pos) {
        self.pos = pos.clone();
        match &mut self.kind {
            ValueKind::Array(a) => a.iter_mut().for_each(|v| v.relocate(pos)),
            ValueKind::Map(m) => m.entries.iter_mut().for_each(|e| {
                e.key_pos = pos.clone();
                e.value.relocate(pos);
            }),
            _ => {}
        }
    }
}

/// One `key: value` of a [`Map`].
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key as written (keys are case-sensitive in the tree; the
    /// settings mapping compares them case-insensitively, as Go does).
    pub key: String,
    /// Where the key was written.
    pub key_pos: Pos,
    /// The value.
    pub value: Value,
    /// Whether the key was referenced as a `$variable` later in the file.
    /// nats-server does not report such keys as unknown options, and
    /// neither does the settings mapping.
    pub used_as_variable: bool,
}

/// A map of keys to values. Keys are unique (a key defined again replaces
/// the earlier value, in place, as nats-server's last definition wins) and
/// iterate in the order they were first defined.
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// The entry of `key` (exact, case-sensitive match).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.index.get(key).and_then(|&i| self.entries.get(i))
    }

    /// The value of `key` (exact, case-sensitive match).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }

    /// The last-defined entry whose key equals `key` ignoring ASCII case.
    pub fn get_ignore_case(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// Sets `key` to `value`, replacing an earlier definition in place.
    pub fn insert(&mut self, key: String, key_pos: Pos, value: Value) {
        self.insert_entry(Entry {
            key,
            key_pos,
            value,
            used_as_variable: false,
        });
    }

    pub(crate) fn insert_entry(&mut self, entry: Entry) {
        match self.index.get(&entry.key) {
            Some(&i) if i < self.entries.len() => self.entries[i] = entry,
            _ => {
                self.index.insert(entry.key.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    pub(crate) fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// Marks `key` as referenced by a variable and returns its value.
    pub(crate) fn use_variable(&mut self, key: &str) -> Option<&Value> {
        let i = *self.index.get(key)?;
        let e = self.entries.get_mut(i)?;
        e.used_as_variable = true;
        Some(&e.value)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|e| (&e.key, &e.value)))
            .finish()
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// A Zulu date-time, `YYYY-MM-DDTHH:MM:SSZ` (UTC), validated as Go's
/// `time.Parse` validates it (month 1–12, day within the month, hour < 24,
/// minute and second < 60).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    /// Year, 0–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
}

impl DateTime {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(s: &str) -> Option<DateTime> {
        let b = s.as_bytes();
        if b.len() != 20 {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let mut n = 0u16;
            for &c in b.get(r)? {
                if !c.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + u16::from(c - b'0');
            }
            Some(n)
        };
        let seps = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ];
        if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
            return None;
        }
        let year = num(0..4)?;
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        let hour = u8::try_from(num(11..13)?).ok()?;
        let minute = u8::try_from(num(14..16)?).ok()?;
        let second = u8::try_from(num(17..19)?).ok()?;
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        Some(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}
