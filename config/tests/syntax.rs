//! The lexer/parser on every syntax feature and error, with positions.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use stan_config::{
    parse_str, DateTime, Error, Map, NoEnv, NoIncludes, Value, ValueKind, MAX_DEPTH, MAX_NODES,
};

fn parse(src: &str) -> Map {
    match parse_str("t.conf", src, &NoIncludes, &NoEnv) {
        Ok(m) => m,
        Err(e) => panic!("{src:?}: {e}"),
    }
}

fn parse_env(src: &str, vars: &[(&str, &str)]) -> Result<Map, Error> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |k: &str| vars.get(k).cloned();
    parse_str("t.conf", src, &NoIncludes, &env)
}

/// The error of `src`, as (line, column, message).
fn err(src: &str) -> (u32, u32, String) {
    match parse_str("t.conf", src, &NoIncludes, &NoEnv) {
        Ok(m) => panic!("{src:?} parsed: {m:?}"),
        Err(e) => {
            let p = e.pos().expect("a position");
            assert_eq!(&*p.file, Path::new("t.conf"));
            (p.line, p.column, e.to_string())
        }
    }
}

fn kind<'a>(m: &'a Map, key: &str) -> &'a ValueKind {
    &m.get(key)
        .unwrap_or_else(|| panic!("no key {key} in {m:?}"))
        .kind
}

fn s(v: &str) -> ValueKind {
    ValueKind::String(v.into())
}

fn lc(v: &Value) -> (u32, u32) {
    (v.pos.line, v.pos.column)
}

#[test]
fn key_value_separators() {
    let m = parse("a: 1\nb = 2\nc 3\nd=4; e:5, f\t6\n  g   :   7");
    for (k, v) in [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
        ("e", 5),
        ("f", 6),
        ("g", 7),
    ] {
        assert_eq!(kind(&m, k), &ValueKind::Int(v), "{k}");
    }
    assert_eq!(m.len(), 7);
    let keys: Vec<&str> = m.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g"]);
}

#[test]
fn positions_of_keys_and_values() {
    let m = parse("\n  port: 4222\nname = \"x\"\nnested {\n  inner: [1, 'two']\n}\n");
    let e = m.entry("port").unwrap();
    assert_eq!((e.key_pos.line, e.key_pos.column), (2, 3));
    assert_eq!(lc(&e.value), (2, 9));
    // A quoted string's position is just inside the quote, as in Go.
    assert_eq!(lc(m.get("name").unwrap()), (3, 9));
    let nested = m.get("nested").unwrap();
    assert_eq!(lc(nested), (4, 8));
    let inner = nested.as_map().unwrap().get("inner").unwrap();
    assert_eq!(lc(inner), (5, 10));
    let items = inner.as_array().unwrap();
    assert_eq!(lc(&items[0]), (5, 11));
    assert_eq!(lc(&items[1]), (5, 15));
    assert_eq!(&*items[1].pos.file, Path::new("t.conf"));
}

#[test]
fn columns_count_characters() {
    let m = parse("k\u{e9}y: \"\u{e9}t\u{e9}\" ; b: 1");
    assert_eq!(kind(&m, "k\u{e9}y"), &s("\u{e9}t\u{e9}"));
    let e = m.entry("b").unwrap();
    assert_eq!((e.key_pos.line, e.key_pos.column), (1, 14));
}

#[test]
fn comments() {
    let m = parse(
        "# top\n// also top\na: 1 # after\nb: 2 // after\nm {\n  # in map\n  c: 3 // x\n  // end\n}\n\
         arr [\n  1 # one\n  2, // two\n  # alone\n  3\n]\n# last line without newline",
    );
    assert_eq!(kind(&m, "a"), &ValueKind::Int(1));
    assert_eq!(kind(&m, "b"), &ValueKind::Int(2));
    assert_eq!(m.get("m").unwrap().as_map().unwrap().len(), 1);
    let arr: Vec<i64> = m
        .get("arr")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_int().unwrap())
        .collect();
    assert_eq!(arr, [1, 2, 3]);
    // `#` inside an unquoted value is part of it (as in Go).
    assert_eq!(kind(&parse("a: b#c"), "a"), &s("b#c"));
}

#[test]
fn maps() {
    let m = parse("a { b { c: 1 } }\nd: {e: 2, f: 3}\ng = { h = 'x'; i = \"y\" }\nempty {}\n");
    let a = m.get("a").unwrap().as_map().unwrap();
    let b = a.get("b").unwrap().as_map().unwrap();
    assert_eq!(b.get("c").unwrap().as_int(), Some(1));
    let d = m.get("d").unwrap().as_map().unwrap();
    assert_eq!(d.get("f").unwrap().as_int(), Some(3));
    let g = m.get("g").unwrap().as_map().unwrap();
    assert_eq!(g.get("i").unwrap().as_str(), Some("y"));
    assert!(m.get("empty").unwrap().as_map().unwrap().is_empty());
}

#[test]
fn arrays() {
    let m = parse("a: [1, 2, 3]\nb: [\n  'x'\n  \"y\"\n  z\n]\nc: []\nd: [[1], {k: v}, 2.5, true]\ne: [1,2,3,'bar']");
    let ints = |k: &str| -> Vec<i64> {
        m.get(k)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_int().unwrap())
            .collect()
    };
    assert_eq!(ints("a"), [1, 2, 3]);
    let b: Vec<&str> = m
        .get("b")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(b, ["x", "y", "z"]);
    assert!(m.get("c").unwrap().as_array().unwrap().is_empty());
    let d = m.get("d").unwrap().as_array().unwrap();
    assert_eq!(d[0].as_array().unwrap()[0].as_int(), Some(1));
    assert_eq!(d[1].as_map().unwrap().get("k").unwrap().as_str(), Some("v"));
    assert_eq!(d[2].as_float(), Some(2.5));
    assert_eq!(d[3].as_bool(), Some(true));
    assert_eq!(
        m.get("e").unwrap().as_array().unwrap()[3].as_str(),
        Some("bar")
    );
}

#[test]
fn strings() {
    let m = parse(concat!(
        "dq: \"a\\tb\\nc\\rd\\\"e\\\\f\\x41\\x3c\"\n",
        "sq: 'no \\t escapes'\n",
        "uq: /var/lib/stan\n",
        "url: nats://user:pw@host:4222\n",
        "ip: 127.0.0.1:4222\n",
        "ip2: 10.0.0.1\n",
        "port_only: :4222\n",
        "dur: 1m30s\n",
        "ms: 500ms\n",
        "esc: start\\x45\\x71\n",
        "empty: \"\"\n",
        "empty2: ''\n",
        "pw: 4e2abc\n",
        "multi: \"line1\nline2\"\n",
        "utf8: \"\u{263a}\"\n",
    ));
    assert_eq!(kind(&m, "dq"), &s("a\tb\nc\rd\"e\\fA<"));
    assert_eq!(kind(&m, "sq"), &s("no \\t escapes"));
    assert_eq!(kind(&m, "uq"), &s("/var/lib/stan"));
    assert_eq!(kind(&m, "url"), &s("nats://user:pw@host:4222"));
    assert_eq!(kind(&m, "ip"), &s("127.0.0.1:4222"));
    assert_eq!(kind(&m, "ip2"), &s("10.0.0.1"));
    assert_eq!(kind(&m, "port_only"), &s(":4222"));
    assert_eq!(kind(&m, "dur"), &s("1m30s"));
    assert_eq!(kind(&m, "ms"), &s("500ms"));
    assert_eq!(kind(&m, "esc"), &s("startEq"));
    assert_eq!(kind(&m, "empty"), &s(""));
    assert_eq!(kind(&m, "empty2"), &s(""));
    assert_eq!(kind(&m, "pw"), &s("4e2abc"));
    assert_eq!(kind(&m, "multi"), &s("line1\nline2"));
    assert_eq!(kind(&m, "utf8"), &s("\u{263a}"));
}

#[test]
fn block_strings() {
    let m = parse("numbers (\n1234567890\n)\nafter: 1\ncrlf (\r\nx\r\n)\r\n");
    assert_eq!(kind(&m, "numbers"), &s("\n1234567890\n"));
    assert_eq!(kind(&m, "after"), &ValueKind::Int(1));
    assert_eq!(kind(&m, "crlf"), &s("\r\nx\r\n"));
    let m = parse("b (\n  12(34)56\n  (\n    7890\n  )\n)");
    assert_eq!(kind(&m, "b"), &s("\n  12(34)56\n  (\n    7890\n  )\n"));
}

#[test]
fn booleans() {
    for (t, v) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("Yes", true),
        ("on", true),
        ("false", false),
        ("no", false),
        ("OFF", false),
    ] {
        assert_eq!(
            kind(&parse(&format!("a: {t}")), "a"),
            &ValueKind::Bool(v),
            "{t}"
        );
    }
    assert_eq!(kind(&parse("a: \"true\""), "a"), &s("true"));
    assert_eq!(kind(&parse("a: truely"), "a"), &s("truely"));
}

#[test]
fn integers_and_sizes() {
    for (t, v) in [
        ("0", 0),
        ("-1", -1),
        ("4222", 4222),
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KiB", 1024),
        ("1ki", 1024),
        ("2m", 2_000_000),
        ("2MB", 2 << 20),
        ("3g", 3_000_000_000),
        ("3gb", 3 << 30),
        ("1t", 1_000_000_000_000),
        ("1tb", 1 << 40),
        ("1p", 1_000_000_000_000_000),
        ("1pib", 1 << 50),
        ("1e", 1_000_000_000_000_000_000),
        ("1EB", 1 << 60),
        ("-2k", -2000),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ] {
        assert_eq!(
            kind(&parse(&format!("a: {t}")), "a"),
            &ValueKind::Int(v),
            "{t}"
        );
    }
    assert_eq!(
        err("a: 9223372036854775808"),
        (
            1,
            4,
            "t.conf:1:4: integer \"9223372036854775808\" is out of range".into()
        )
    );
    assert_eq!(
        err("a: 10e").2,
        "t.conf:1:4: integer \"10e\" is out of range"
    );
    assert_eq!(
        err("a: 1kbb").2,
        "t.conf:1:4: invalid size suffix in \"1kbb\""
    );
}

#[test]
fn floats_and_datetimes() {
    let m = parse("f: 2.5\nn: -0.25\nd: 2016-05-04T18:53:41Z\nleap: 2024-02-29T00:00:00Z");
    assert_eq!(kind(&m, "f"), &ValueKind::Float(2.5));
    assert_eq!(kind(&m, "n"), &ValueKind::Float(-0.25));
    let d = DateTime {
        year: 2016,
        month: 5,
        day: 4,
        hour: 18,
        minute: 53,
        second: 41,
    };
    assert_eq!(kind(&m, "d"), &ValueKind::DateTime(d));
    assert_eq!(d.to_string(), "2016-05-04T18:53:41Z");
    assert_eq!(
        err("d: 2023-02-29T00:00:00Z").2,
        "t.conf:1:4: expected Zulu formatted DateTime, but got '2023-02-29T00:00:00Z'"
    );
    assert_eq!(err("d: 2016-05-04 18").0, 1);
    assert_eq!(err("f: .5").2, "t.conf:1:4: floats must start with a digit");
    assert_eq!(
        err("f: 1.x").2,
        "t.conf:1:6: floats must have a digit after the '.', but got 'x' instead"
    );
}

#[test]
fn quoted_keys() {
    let m = parse("'a b': 1\n\"c.d\" = 2\nm { 'e-f': 3, \"g h\" 4 }");
    assert_eq!(kind(&m, "a b"), &ValueKind::Int(1));
    assert_eq!(kind(&m, "c.d"), &ValueKind::Int(2));
    let inner = m.get("m").unwrap().as_map().unwrap();
    assert_eq!(inner.get("e-f").unwrap().as_int(), Some(3));
    assert_eq!(inner.get("g h").unwrap().as_int(), Some(4));
}

#[test]
fn whole_file_in_braces() {
    let m = parse("{\n  a: 1\n  b: { c: 2 }\n}\n");
    assert_eq!(kind(&m, "a"), &ValueKind::Int(1));
    assert_eq!(
        m.get("b")
            .unwrap()
            .as_map()
            .unwrap()
            .get("c")
            .unwrap()
            .as_int(),
        Some(2)
    );
    assert!(parse("{}").is_empty());
    assert!(parse("").is_empty());
    assert!(parse("  \n# only a comment").is_empty());
}

#[test]
fn last_definition_wins() {
    let m = parse("a: 1\nb: 2\na: 3");
    assert_eq!(kind(&m, "a"), &ValueKind::Int(3));
    let keys: Vec<&str> = m.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(m.entry("a").unwrap().key_pos.line, 3);
    // Keys are case-sensitive in the tree.
    assert_eq!(parse("a: 1\nA: 2").len(), 2);
}

#[test]
fn variables_are_scoped() {
    let m = parse(
        "TOP = 1\nm {\n  INNER = 2\n  a: $TOP\n  b: $INNER\n  n { c: $INNER, d: $TOP }\n}\ne: $TOP",
    );
    let inner = m.get("m").unwrap().as_map().unwrap();
    assert_eq!(inner.get("a").unwrap().as_int(), Some(1));
    assert_eq!(inner.get("b").unwrap().as_int(), Some(2));
    let n = inner.get("n").unwrap().as_map().unwrap();
    assert_eq!(n.get("c").unwrap().as_int(), Some(2));
    assert_eq!(n.get("d").unwrap().as_int(), Some(1));
    assert_eq!(kind(&m, "e"), &ValueKind::Int(1));
    assert!(m.entry("TOP").unwrap().used_as_variable);
    assert!(inner.entry("INNER").unwrap().used_as_variable);
    assert!(!m.entry("e").unwrap().used_as_variable);
    // The value takes the position of the reference.
    assert_eq!(lc(inner.get("a").unwrap()), (4, 6));
    // A whole map can be referenced.
    let m = parse("base { x: 1 }\ncopy: $base");
    assert_eq!(
        m.get("copy")
            .unwrap()
            .as_map()
            .unwrap()
            .get("x")
            .unwrap()
            .as_int(),
        Some(1)
    );
}

#[test]
fn variables_errors() {
    // Not defined yet.
    assert_eq!(
        err("a: $B\nB: 1"),
        (
            1,
            4,
            "t.conf:1:4: variable reference for 'B' can not be found".into()
        )
    );
    // Defined in an inner map: not visible outside.
    assert_eq!(err("m { X: 1 }\na: $X").0, 2);
    // Defined in a sibling map.
    assert_eq!(err("m { X: 1 }\nn { a: $X }").0, 2);
    // Inside an array.
    assert_eq!(err("a: [1, $NOPE]").1, 8);
}

#[test]
fn environment_variables() {
    let m = parse_env(
        "port: $PORT\nflag: $FLAG\nname: $NAME\nlist: $LIST\nmap: $MAP\nsize: $SIZE\nlocal: 5\nshadow: $local",
        &[
            ("PORT", "4222"),
            ("FLAG", "true"),
            ("NAME", "\"hello world\""),
            ("LIST", "[1, 2]"),
            ("MAP", "{a: 1}"),
            ("SIZE", "1MB"),
            ("local", "env loses"),
        ],
    )
    .unwrap();
    assert_eq!(kind(&m, "port"), &ValueKind::Int(4222));
    assert_eq!(kind(&m, "flag"), &ValueKind::Bool(true));
    assert_eq!(kind(&m, "name"), &s("hello world"));
    // Go parses "pk=hello world", where the unquoted string ends at the
    // space and "world" is then an error.
    assert!(matches!(
        parse_env("n: $NAME", &[("NAME", "hello world")]),
        Err(Error::BadEnvVariable { .. })
    ));
    assert_eq!(m.get("list").unwrap().as_array().unwrap().len(), 2);
    assert_eq!(
        m.get("map")
            .unwrap()
            .as_map()
            .unwrap()
            .get("a")
            .unwrap()
            .as_int(),
        Some(1)
    );
    assert_eq!(kind(&m, "size"), &ValueKind::Int(1 << 20));
    assert_eq!(kind(&m, "shadow"), &ValueKind::Int(5));
    // Environment values and their contents take the reference position.
    let list = m.get("list").unwrap();
    assert_eq!(lc(list), (4, 7));
    assert_eq!(lc(&list.as_array().unwrap()[1]), (4, 7));
    assert_eq!(&*list.pos.file, Path::new("t.conf"));
}

#[test]
fn environment_variable_errors() {
    let e = parse_env("a: $BAD", &[("BAD", "\"unterminated")]).unwrap_err();
    assert!(matches!(e, Error::BadEnvVariable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("t.conf:1:4: variable reference for 'BAD' could not be parsed: "),
        "{e}"
    );
    // A variable whose value references itself.
    let e = parse_env("a: $LOOP", &[("LOOP", "$LOOP")]).unwrap_err();
    assert!(matches!(e, Error::BadEnvVariable { .. }), "{e:?}");
    // An environment value cannot include files.
    let e = parse_env("a: $INC", &[("INC", "1\ninclude x.conf")]).unwrap_err();
    assert!(e.to_string().contains("include is not allowed"), "{e}");
}

#[test]
fn bcrypt_hashes_are_not_variables() {
    let m = parse("pass: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG");
    assert_eq!(
        kind(&m, "pass"),
        &s("$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG")
    );
}

/// Files in memory, with a log of what was loaded.
struct MemFs(HashMap<PathBuf, String>);

impl stan_config::Loader for MemFs {
    fn load(&self, path: &Path) -> io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

fn memfs(files: &[(&str, &str)]) -> MemFs {
    MemFs(
        files
            .iter()
            .map(|(p, c)| (PathBuf::from(p), c.to_string()))
            .collect(),
    )
}

#[test]
fn includes() {
    let fs = memfs(&[
        ("/etc/nats/main.conf", "port: 1\ninclude auth.conf\nm {\n  include \"sub/inner.conf\"\n  z: $Y\n}\nafter: $FROM_INC"),
        ("/etc/nats/auth.conf", "authorization { user: u }\nFROM_INC: 7\n"),
        ("/etc/nats/sub/inner.conf", "Y: 2\ninclude '../leaf.conf'"),
        ("/etc/nats/leaf.conf", "leaf: true"),
    ]);
    let m = stan_config::parse_file("/etc/nats/main.conf", &fs, &NoEnv).unwrap();
    assert_eq!(kind(&m, "port"), &ValueKind::Int(1));
    assert!(m.get("authorization").unwrap().as_map().is_some());
    assert_eq!(kind(&m, "after"), &ValueKind::Int(7));
    let inner = m.get("m").unwrap().as_map().unwrap();
    assert_eq!(inner.get("Y").unwrap().as_int(), Some(2));
    assert_eq!(inner.get("z").unwrap().as_int(), Some(2));
    assert_eq!(inner.get("leaf").unwrap().as_bool(), Some(true));
    // Included values name their own file.
    let leaf = inner.entry("leaf").unwrap();
    assert_eq!(&*leaf.key_pos.file, Path::new("/etc/nats/leaf.conf"));
    assert_eq!((leaf.key_pos.line, leaf.key_pos.column), (1, 1));
    let user = m
        .get("authorization")
        .unwrap()
        .as_map()
        .unwrap()
        .get("user")
        .unwrap();
    assert_eq!(&*user.pos.file, Path::new("/etc/nats/auth.conf"));
    assert_eq!(lc(user), (1, 23));
}

#[test]
fn include_paths_are_relative_like_go() {
    // Go's filepath.Join: a leading '/' does not make the path absolute.
    let fs = memfs(&[
        ("/a/main.conf", "include /b/x.conf"),
        ("/a/b/x.conf", "ok: 1"),
    ]);
    let m = stan_config::parse_file("/a/main.conf", &fs, &NoEnv).unwrap();
    assert_eq!(kind(&m, "ok"), &ValueKind::Int(1));
    // Relative top-level file.
    let fs = memfs(&[
        ("conf/main.conf", "include other.conf"),
        ("conf/other.conf", "o: 2"),
    ]);
    let m = stan_config::parse_file("conf/main.conf", &fs, &NoEnv).unwrap();
    assert_eq!(kind(&m, "o"), &ValueKind::Int(2));
}

#[test]
fn include_errors() {
    let fs = memfs(&[
        ("/c/a.conf", "x: 1\ninclude b.conf"),
        ("/c/b.conf", "\n  include ./a.conf"),
        ("/c/missing.conf", "m {\n  include nothere.conf\n}"),
        ("/c/bad.conf", "include broken.conf"),
        ("/c/broken.conf", "ok: 1\nbad: \"open"),
        ("/c/self.conf", "include self.conf"),
    ]);
    let e = stan_config::parse_file("/c/a.conf", &fs, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::IncludeCycle { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "/c/b.conf:2:11: include cycle: '/c/a.conf' is already being included"
    );
    let e = stan_config::parse_file("/c/self.conf", &fs, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::IncludeCycle { .. }), "{e:?}");
    let e = stan_config::parse_file("/c/missing.conf", &fs, &NoEnv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/c/missing.conf:2:11: error parsing include file '/c/nothere.conf': no such file"
    );
    // Errors inside an included file name that file.
    let e = stan_config::parse_file("/c/bad.conf", &fs, &NoEnv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/c/broken.conf:2:6: unterminated quoted string"
    );
    let e = stan_config::parse_file("/c/none.conf", &fs, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::Read { .. }), "{e:?}");
    assert!(e.pos().is_none());
    // Without a loader, includes fail.
    assert!(matches!(
        parse_str("t.conf", "include x.conf", &NoIncludes, &NoEnv),
        Err(Error::Include { .. })
    ));
}

#[test]
fn include_depth_is_limited() {
    let files: Vec<(String, String)> = (0..40)
        .map(|i| (format!("/d/f{i}.conf"), format!("include f{}.conf", i + 1)))
        .collect();
    let fs = MemFs(
        files
            .into_iter()
            .map(|(p, c)| (PathBuf::from(p), c))
            .collect(),
    );
    let e = stan_config::parse_file("/d/f0.conf", &fs, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
}

#[test]
fn syntax_errors_with_positions() {
    let cases: &[(&str, (u32, u32), &str)] = &[
        ("a: \"open", (1, 4), "unterminated quoted string"),
        ("a: 'open\n", (1, 4), "unterminated quoted string"),
        ("a: \"bad \\q\"", (1, 10), "invalid escape character 'q'"),
        ("a: \"\\x4g\"", (1, 8), "expected two hexadecimal digits after '\\x', but got '4g'"),
        ("a: \"\\xff\"", (1, 5), "string with \\x escapes is not valid UTF-8"),
        ("a", (1, 1), "key 'a' has no value"),
        ("x: 1\n  lonely\n", (2, 3), "key 'lonely' has no value"),
        ("m { b }", (1, 5), "key 'b' has no value"),
        (": 1", (1, 1), "unexpected key separator ':'"),
        ("m { = 1 }", (1, 5), "unexpected key separator '='"),
        ("a: 1 2", (1, 6), "expected a top-level value to end with a new line, comment or EOF, but got '2' instead"),
        ("m { a: 1 b: 2 }", (1, 10), "expected a map value terminator ',' or a map terminator '}', but got 'b' instead"),
        ("a: [1 2]", (1, 7), "expected an array value terminator ',' or an array terminator ']', but got '2' instead"),
        ("a: [,1]", (1, 5), "unexpected array value terminator ','"),
        ("m { a: , }", (1, 8), "unexpected map value terminator ','"),
        ("\"key", (1, 1), "unterminated quoted key"),
        ("include \"x", (1, 9), "unterminated quoted include"),
        ("a: [1, 2", (1, 9), "expected an array value terminator ',' or an array terminator ']', but got 'EOF' instead"),
        ("m {\n  a: 1\n", (3, 1), "unexpected EOF processing map"),
        ("m { a", (1, 6), "unexpected EOF processing map key"),
        ("m { ] }", (1, 5), "unexpected array end ']' processing map"),
        ("b (\nno end", (1, 3), "unterminated block"),
        ("a: 12-3", (1, 6), "all ISO8601 dates must be in full Zulu form"),
        ("a: -x", (1, 5), "expected a digit but got 'x'"),
        ("a:\n1", (1, 3), "expected value but found new line"),
        ("/ a: 1", (1, 1), "unexpected '/'"),
        ("include [x]", (1, 9), "expected include value but found start of an array"),
        ("include 5.conf", (1, 9), "expected include value but found start of a number"),
        ("a: 1\0", (1, 5), "NUL character in configuration"),
        ("{ a: 1 } }", (1, 10), "key '}' has no value"),
    ];
    for (src, (line, col), msg) in cases {
        let (l, c, m) = err(src);
        assert!(
            m.contains(msg),
            "{src:?}: message {m:?} does not contain {msg:?}"
        );
        assert_eq!((l, c), (*line, *col), "{src:?}: {m}");
        assert!(m.starts_with(&format!("t.conf:{line}:{col}: ")), "{m}");
    }
}

#[test]
fn nesting_depth_is_limited() {
    let ok = format!("a: {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_str("t.conf", &ok, &NoIncludes, &NoEnv).is_ok());
    let deep = format!(
        "a: {}{}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    let e = parse_str("t.conf", &deep, &NoIncludes, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
    // Very deep input fails fast, without overflowing the stack.
    let huge = format!("a: {}", "[".repeat(1_000_000));
    assert!(parse_str("t.conf", &huge, &NoIncludes, &NoEnv).is_err());
    let huge = format!("a: {}", "{b: ".repeat(200_000));
    assert!(parse_str("t.conf", &huge, &NoIncludes, &NoEnv).is_err());
    // Variables cannot nest past the limit either.
    let half = MAX_DEPTH / 2 + 1;
    let src = format!(
        "V: {}{}\nw: {}$V{}",
        "[".repeat(half),
        "]".repeat(half),
        "[".repeat(half),
        "]".repeat(half)
    );
    let e = parse_str("t.conf", &src, &NoIncludes, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
}

#[test]
fn exponential_variable_copies_are_limited() {
    let mut src = String::from("v0: [1,1,1,1,1,1,1,1,1,1]\n");
    for i in 1..12 {
        let p = i - 1;
        src.push_str(&format!(
            "v{i}: [$v{p},$v{p},$v{p},$v{p},$v{p},$v{p},$v{p},$v{p},$v{p},$v{p}]\n"
        ));
    }
    let e = parse_str("t.conf", &src, &NoIncludes, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains(&MAX_NODES.to_string()), "{e}");
}
