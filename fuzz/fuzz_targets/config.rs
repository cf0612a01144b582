//! Arbitrary bytes as a configuration file, then through the settings
//! mapping: no panic, and every error carries a position inside the text
//! it names.
//!
//! Input: the main file, optionally followed by a 0xFF byte and a second
//! text, which is both the file `inc.conf` (for `include inc.conf`) and
//! the value of the environment variable `ENV` (for `$ENV`). Invalid UTF-8
//! is replaced (the parser takes `&str`).
#![no_main]

use std::io;
use std::path::Path;

use stan_config::{from_nats_config, parse_str, Error};

fn check(main: &str, other: &str, e: &Error) {
    let _ = e.to_string();
    let Some(p) = e.pos() else {
        panic!("error without position: {e:?}");
    };
    assert!(p.line >= 1 && p.column >= 1, "{e}");
    let text = if &*p.file == Path::new("main.conf") {
        main
    } else if &*p.file == Path::new("inc.conf") {
        other
    } else {
        return;
    };
    let line = text
        .split('\n')
        .nth(p.line as usize - 1)
        .unwrap_or_else(|| panic!("{e}: line beyond the text"));
    assert!(
        p.column as usize <= line.chars().count() + 1,
        "{e}: column beyond the line"
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&c| c == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let main = String::from_utf8_lossy(a);
    let other = String::from_utf8_lossy(b);
    let loader = |p: &Path| -> io::Result<String> {
        if p == Path::new("inc.conf") {
            Ok(other.to_string())
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    };
    let env = |name: &str| (name == "ENV").then(|| other.to_string());
    match parse_str("main.conf", &main, &loader, &env) {
        Ok(tree) => {
            if let Err(e) = from_nats_config(&tree) {
                check(&main, &other, &e);
            }
        }
        Err(e) => check(&main, &other, &e),
    }
});
