//! Property tests: no input makes the parser or the mapping panic, errors
//! always carry a sane position, and trees written out in the syntax parse
//! back to themselves.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use proptest::prelude::*;
use stan_config::{from_nats_config, parse_str, Map, Value, ValueKind};

fn loader(p: &Path) -> io::Result<String> {
    match p.file_name().and_then(|n| n.to_str()) {
        Some("inc.conf") => Ok("a: 1\nm { b: [1, 2] }\ninclude inc.conf".into()),
        Some("ok.conf") => Ok("port: 4222\nstreaming { id: x }".into()),
        _ => Err(io::Error::from(io::ErrorKind::NotFound)),
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "E" => Some("$E".into()),
        "N" => Some("42".into()),
        "M" => Some("{ a: [1, {b: $N}] }".into()),
        _ => None,
    }
}

fn run(src: &str) {
    match parse_str("f.conf", src, &loader, &env) {
        Ok(tree) => {
            if let Err(e) = from_nats_config(&tree) {
                check_pos(src, &e);
            }
        }
        Err(e) => check_pos(src, &e),
    }
}

fn check_pos(src: &str, e: &stan_config::Error) {
    let p = e
        .pos()
        .unwrap_or_else(|| panic!("no position in {e:?} for {src:?}"));
    assert!(p.line >= 1 && p.column >= 1, "{e}");
    if &*p.file == Path::new("f.conf") {
        let lines = src.split('\n').count();
        assert!(
            p.line as usize <= lines,
            "{e} beyond {lines} lines of {src:?}"
        );
        let line = src.split('\n').nth(p.line as usize - 1).unwrap_or("");
        assert!(
            p.column as usize <= line.chars().count() + 1,
            "{e}: column beyond the line {line:?}"
        );
    }
    let _ = e.to_string();
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "port",
        "streaming",
        "store_limits",
        "channels",
        "tls",
        "file",
        "limits",
        "{",
        "}",
        "[",
        "]",
        ":",
        "=",
        " ",
        "  ",
        "\n",
        "\r\n",
        ",",
        ";",
        "#",
        "//",
        "/",
        "\"",
        "'",
        "(",
        ")",
        "\n)\n",
        "\\",
        "\\x41",
        "\\xff",
        "$a",
        "$E",
        "$N",
        "$M",
        "$2a$x",
        "include inc.conf",
        "include ok.conf",
        "include 'x.conf'",
        "1",
        "-",
        "-1",
        "1k",
        "1kb",
        "1m30s",
        "2.5",
        "1.2.3.4:5",
        "2016-05-04T18:53:41Z",
        "2016-13-04T18:53:41Z",
        "true",
        "no",
        "x",
        "\t",
        "\u{e9}",
        "\u{263a}",
        "hb_interval",
        "\"10s\"",
        "max_msgs",
        "\"orders.>\"",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        run(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn config_like_input_never_panics(parts in prop::collection::vec(token(), 0..80)) {
        run(&parts.concat());
    }

    #[test]
    fn written_trees_parse_back(tree in map_strategy()) {
        let text = write_map(&tree, 0);
        let parsed = parse_str("f.conf", &text, &stan_config::NoIncludes, &stan_config::NoEnv)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert!(same_map(&tree, &parsed), "{text}\n{parsed:?}");
    }
}

/// A tree without positions, to generate.
#[derive(Clone, Debug)]
enum T {
    Bool(bool),
    Int(i64),
    Float(i64),
    Str(String),
    Arr(Vec<T>),
    Map(BTreeMap<String, T>),
}

fn key() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |k| k != "include")
}

fn leaf() -> impl Strategy<Value = T> {
    prop_oneof![
        any::<bool>().prop_map(T::Bool),
        any::<i64>().prop_map(T::Int),
        (-100_000i64..100_000).prop_map(T::Float),
        "[ -~\t\n\u{e9}\u{263a}]{0,12}".prop_map(T::Str),
    ]
}

fn value() -> impl Strategy<Value = T> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(T::Arr),
            prop::collection::btree_map(key(), inner, 0..5).prop_map(T::Map),
        ]
    })
}

fn map_strategy() -> impl Strategy<Value = BTreeMap<String, T>> {
    prop::collection::btree_map(key(), value(), 0..8)
}

fn write_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_value(v: &T, indent: usize) -> String {
    match v {
        T::Bool(b) => b.to_string(),
        T::Int(i) => i.to_string(),
        T::Float(f) => {
            let sign = if *f < 0 { "-" } else { "" };
            format!("{sign}{}.{:02}", f.abs() / 100, f.abs() % 100)
        }
        T::Str(s) => write_str(s),
        T::Arr(a) => {
            let items: Vec<String> = a.iter().map(|v| write_value(v, indent + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        T::Map(m) => format!("{{\n{}{}}}", write_map(m, indent + 1), "  ".repeat(indent)),
    }
}

fn write_map(m: &BTreeMap<String, T>, indent: usize) -> String {
    let mut out = String::new();
    for (i, (k, v)) in m.iter().enumerate() {
        let pad = "  ".repeat(indent);
        // Alternate the three separators and quoting of keys.
        let line = match i % 3 {
            0 => format!("{pad}{k}: {}\n", write_value(v, indent)),
            1 => format!("{pad}\"{k}\" = {}\n", write_value(v, indent)),
            _ => format!("{pad}{k} {} # comment\n", write_value(v, indent)),
        };
        out.push_str(&line);
    }
    out
}

fn same(t: &T, v: &Value) -> bool {
    match (t, &v.kind) {
        (T::Bool(a), ValueKind::Bool(b)) => a == b,
        (T::Int(a), ValueKind::Int(b)) => a == b,
        (T::Float(a), ValueKind::Float(b)) => (*a as f64 / 100.0 - b).abs() < 1e-9,
        (T::Str(a), ValueKind::String(b)) => a == b,
        (T::Arr(a), ValueKind::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (T::Map(a), ValueKind::Map(b)) => same_map(a, b),
        _ => false,
    }
}

fn same_map(a: &BTreeMap<String, T>, b: &Map) -> bool {
    a.len() == b.len() && a.iter().all(|(k, t)| b.get(k).is_some_and(|v| same(t, v)))
}

#[test]
fn pathological_inputs() {
    for src in [
        "a: ".to_string() + &"[".repeat(100_000),
        "{".repeat(100_000),
        "a ".repeat(50_000),
        "a: \"".to_string() + &"\\x41".repeat(50_000) + "\"",
        "x: ".to_string() + &"1".repeat(10_000),
        "x: 1.".to_string() + &"1".repeat(10_000),
        "x: (".to_string() + &")\n".repeat(1000),
        "include inc.conf".into(),
        "a: $E".into(),
        "a: $M".into(),
        "\u{feff}a: 1".into(),
        "a: 1\u{0}".into(),
        "\n".repeat(10_000) + "a",
    ] {
        run(&src);
    }
}
