//! The lexer: a port of nats-server's `conf/lex.go` state machine (the
//! states keep Go's names), pulled one item at a time by the parser.
//!
//! Items carry the byte offset where they start; the parser turns offsets
//! into lines and columns. Comments produce no items. Deliberate
//! differences from Go are marked `Go:` below and listed in the crate docs.

use std::collections::VecDeque;

/// What an [`Item`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemKind {
    Key,
    String,
    Bool,
    Integer,
    Float,
    DateTime,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    Variable,
    Include,
    Eof,
}

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub kind: ItemKind,
    pub val: String,
    /// Byte offset of the start of the token.
    pub offset: usize,
}

/// A syntax error found by the lexer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    pub offset: usize,
    pub msg: String,
}

/// Stands for the end of input (the input never holds a NUL: the parser
/// refuses it up front).
const EOF: char = '\0';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    DubQuotedKey,
    QuotedKey,
    Key,
    KeyEnd,
    IncludeStart,
    Include,
    IncludeQuotedString,
    IncludeDubQuotedString,
    IncludeString,
    Value,
    ArrayValue,
    ArrayValueEnd,
    MapKeyStart,
    MapQuotedKey,
    MapDubQuotedKey,
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    QuotedString,
    DubQuotedString,
    String,
    Block,
    StringEscape,
    StringBinary,
    NumberStart,
    Number,
    ConvenientNumber,
    DateAfterYear,
    NegNumberStart,
    NegNumber,
    FloatStart,
    Float,
    IpAddr,
    Comment,
}

/// Result of one state function: the next state, or `None` once an error
/// or the end has been emitted.
type Next = Option<State>;

pub(crate) struct Lexer<'a> {
    input: &'a str,
    start: usize,
    pos: usize,
    width: usize,
    /// Whether the last move was a `next` that consumed a character (so an
    /// error points at that character rather than after it).
    consumed: bool,
    /// Where the current token began (`start` moves past escaped parts).
    tok_begin: usize,
    state: Option<State>,
    stack: Vec<State>,
    parts: Vec<u8>,
    has_parts: bool,
    string_state: State,
    items: VecDeque<Result<Item, LexError>>,
}

fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Go's `isWhitespace`: space and tab only.
fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Go's `unicode.IsSpace`.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn is_key_sep(c: char) -> bool {
    c == '=' || c == ':'
}

fn is_suffix(c: char) -> bool {
    matches!(
        c,
        'k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E'
    )
}

/// Characters that end a number. Go: `]` is missing from its list, which
/// turns the last integer of `[1, 2]` into the string `"2"`; here it ends
/// the number.
fn ends_number(c: char) -> bool {
    is_nl(c) || c == EOF || c == '}' || c == ';' || c == ',' || c == ']' || is_ws(c)
}

fn show(c: char) -> String {
    match c {
        EOF => "EOF".to_string(),
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        '\t' => "\\t".to_string(),
        c => c.to_string(),
    }
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Self {
        Lexer {
            input,
            start: 0,
            pos: 0,
            width: 0,
            consumed: false,
            tok_begin: 0,
            state: Some(State::Top),
            stack: Vec::new(),
            parts: Vec::new(),
            has_parts: false,
            string_state: State::String,
            items: VecDeque::new(),
        }
    }

    /// The next item; after an error or `Eof`, keeps returning `Eof`.
    pub fn next_item(&mut self) -> Result<Item, LexError> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return item;
            }
            match self.state {
                Some(s) => self.state = self.step(s),
                None => {
                    return Ok(Item {
                        kind: ItemKind::Eof,
                        val: String::new(),
                        offset: self.input.len(),
                    })
                }
            }
        }
    }

    fn next(&mut self) -> char {
        match self.input.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                self.consumed = true;
                c
            }
            None => {
                self.width = 0;
                self.consumed = false;
                EOF
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.consumed = false;
    }

    fn peek(&mut self) -> char {
        let c = self.next();
        self.backup();
        c
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.tok_begin = self.pos;
    }

    fn emit_at(&mut self, kind: ItemKind, offset: usize) {
        let mut bytes = std::mem::take(&mut self.parts);
        self.has_parts = false;
        bytes.extend_from_slice(
            self.input
                .as_bytes()
                .get(self.start..self.pos)
                .unwrap_or(&[]),
        );
        let item = match String::from_utf8(bytes) {
            Ok(val) => Ok(Item { kind, val, offset }),
            // Go keeps such strings as raw bytes; a Rust string cannot.
            Err(_) => Err(LexError {
                offset,
                msg: "string with \\x escapes is not valid UTF-8".into(),
            }),
        };
        let failed = item.is_err();
        self.items.push_back(item);
        self.start = self.pos;
        self.tok_begin = self.pos;
        if failed {
            self.state = None;
        }
    }

    fn emit(&mut self, kind: ItemKind) -> bool {
        self.emit_at(kind, self.tok_begin);
        self.items.back().is_some_and(|i| i.is_ok())
    }

    /// Emits a bracket item for the character just consumed.
    fn emit_bracket(&mut self, kind: ItemKind) {
        let at = self.pos - self.width;
        self.ignore();
        self.items.push_back(Ok(Item {
            kind,
            val: String::new(),
            offset: at,
        }));
    }

    fn errorf(&mut self, msg: impl Into<String>) -> Next {
        let offset = if self.consumed {
            self.pos - self.width
        } else {
            self.pos
        };
        self.error_at(offset, msg)
    }

    fn error_at(&mut self, offset: usize, msg: impl Into<String>) -> Next {
        self.items.push_back(Err(LexError {
            offset,
            msg: msg.into(),
        }));
        None
    }

    /// After `#`, or a `/` that must be followed by another: a comment,
    /// then back to `back`.
    fn comment(&mut self, first: char, back: State) -> Next {
        if first == '/' {
            let at = self.pos - 1;
            if self.next() != '/' {
                self.backup();
                return self.error_at(at, "unexpected '/' (comments start with '#' or '//')");
            }
        }
        self.push(back);
        Some(State::Comment)
    }

    fn push(&mut self, s: State) {
        self.stack.push(s);
    }

    fn pop(&mut self) -> Next {
        match self.stack.pop() {
            Some(s) => Some(s),
            None => self.errorf("internal lexer error: no state to return to"),
        }
    }

    fn emit_eof(&mut self) -> Next {
        self.items.push_back(Ok(Item {
            kind: ItemKind::Eof,
            val: String::new(),
            offset: self.pos,
        }));
        None
    }

    /// Emits the key, or starts an `include` if the key is that keyword.
    fn key_check_keyword(&mut self, fall_through: State, push: Option<State>) -> Next {
        let key = self.input.get(self.start..self.pos).unwrap_or("");
        if key.eq_ignore_ascii_case("include") {
            self.ignore();
            if let Some(p) = push {
                self.push(p);
            }
            return Some(State::IncludeStart);
        }
        if !self.emit(ItemKind::Key) {
            return None;
        }
        Some(fall_through)
    }

    fn add_current_string_part(&mut self, offset: usize) {
        let end = self.pos.saturating_sub(offset).max(self.start);
        if let Some(s) = self.input.as_bytes().get(self.start..end) {
            self.parts.extend_from_slice(s);
        }
        self.has_parts = true;
        self.start = self.pos;
    }

    fn add_string_part(&mut self, s: &[u8]) -> Next {
        self.parts.extend_from_slice(s);
        self.has_parts = true;
        self.start = self.pos;
        Some(self.string_state)
    }

    fn is_bool(&self) -> bool {
        let s = self.input.get(self.start..self.pos).unwrap_or("");
        ["true", "false", "on", "off", "yes", "no"]
            .iter()
            .any(|b| s.eq_ignore_ascii_case(b))
    }

    fn is_variable(&mut self) -> bool {
        if self.input.as_bytes().get(self.start) == Some(&b'$') {
            self.start += 1;
            return true;
        }
        false
    }

    fn step(&mut self, s: State) -> Next {
        use State::*;
        match s {
            Top => {
                let r = self.next();
                if is_space(r) {
                    self.ignore();
                    return Some(Top);
                }
                match r {
                    '{' => {
                        self.push(Top);
                        self.ignore();
                        return Some(BlockStart);
                    }
                    '#' | '/' => return self.comment(r, Top),
                    EOF => {
                        if self.pos > self.start {
                            return self.errorf("unexpected EOF");
                        }
                        return self.emit_eof();
                    }
                    _ => {}
                }
                self.backup();
                self.push(TopValueEnd);
                Some(KeyStart)
            }
            TopValueEnd => {
                let r = self.next();
                match r {
                    '#' => {
                        self.push(Top);
                        Some(Comment)
                    }
                    '/' => {
                        if self.next() == '/' {
                            self.push(Top);
                            return Some(Comment);
                        }
                        // Go: a lone '/' after a value is skipped.
                        self.backup();
                        Some(TopValueEnd)
                    }
                    c if is_ws(c) => Some(TopValueEnd),
                    c if is_nl(c) || c == EOF || c == ';' || c == ',' || c == '}' => {
                        self.ignore();
                        Some(Top)
                    }
                    c => self.errorf(format!(
                        "expected a top-level value to end with a new line, comment or EOF, but got '{}' instead",
                        show(c)
                    )),
                }
            }
            BlockStart => {
                let r = self.next();
                if is_space(r) {
                    self.ignore();
                    return Some(BlockStart);
                }
                match r {
                    '{' => {
                        self.push(BlockEnd);
                        self.ignore();
                        return Some(BlockStart);
                    }
                    '}' => {
                        self.ignore();
                        return self.pop();
                    }
                    '#' | '/' => return self.comment(r, BlockStart),
                    EOF => {
                        if self.pos > self.start {
                            return self.errorf("unexpected EOF");
                        }
                        return self.emit_eof();
                    }
                    _ => {}
                }
                self.backup();
                self.push(BlockValueEnd);
                Some(KeyStart)
            }
            BlockValueEnd => {
                let r = self.next();
                match r {
                    '#' => {
                        self.push(BlockValueEnd);
                        Some(Comment)
                    }
                    '/' => {
                        if self.next() == '/' {
                            self.push(BlockValueEnd);
                            return Some(Comment);
                        }
                        self.backup();
                        Some(BlockValueEnd)
                    }
                    c if is_ws(c) => Some(BlockValueEnd),
                    c if is_nl(c) || c == ';' || c == ',' => {
                        self.ignore();
                        Some(BlockStart)
                    }
                    '}' => {
                        self.backup();
                        Some(BlockEnd)
                    }
                    c => self.errorf(format!(
                        "expected a block-level value to end with a new line, comment or '}}', but got '{}' instead",
                        show(c)
                    )),
                }
            }
            BlockEnd => {
                let r = self.next();
                match r {
                    '#' => {
                        self.push(BlockStart);
                        Some(Comment)
                    }
                    '/' => {
                        if self.next() == '/' {
                            self.push(BlockStart);
                            return Some(Comment);
                        }
                        self.backup();
                        Some(BlockEnd)
                    }
                    c if is_nl(c) || is_ws(c) => Some(BlockEnd),
                    ';' | ',' => {
                        self.ignore();
                        Some(BlockStart)
                    }
                    '}' => {
                        self.ignore();
                        self.pop()
                    }
                    c => self.errorf(format!(
                        "expected a block to end with '}}', but got '{}' instead",
                        show(c)
                    )),
                }
            }
            KeyStart => {
                let r = self.peek();
                if is_key_sep(r) {
                    self.next();
                    return self.errorf(format!("unexpected key separator '{r}'"));
                }
                if is_space(r) {
                    self.next();
                    self.ignore();
                    return Some(KeyStart);
                }
                match r {
                    '"' => {
                        self.next();
                        self.ignore();
                        Some(DubQuotedKey)
                    }
                    '\'' => {
                        self.next();
                        self.ignore();
                        Some(QuotedKey)
                    }
                    _ => {
                        self.ignore();
                        self.next();
                        Some(Key)
                    }
                }
            }
            DubQuotedKey | QuotedKey | MapDubQuotedKey | MapQuotedKey => {
                let quote = if matches!(s, DubQuotedKey | MapDubQuotedKey) {
                    '"'
                } else {
                    '\''
                };
                let r = self.peek();
                if r == quote {
                    if !self.emit(ItemKind::Key) {
                        return None;
                    }
                    self.next();
                    self.ignore();
                    return Some(if matches!(s, DubQuotedKey | QuotedKey) {
                        KeyEnd
                    } else {
                        MapKeyEnd
                    });
                }
                if r == EOF {
                    // Go: an empty quoted key at EOF ends the file silently.
                    return self
                        .error_at(self.tok_begin.saturating_sub(1), "unterminated quoted key");
                }
                self.next();
                Some(s)
            }
            Key => {
                let r = self.peek();
                if is_space(r) {
                    return self.key_check_keyword(KeyEnd, None);
                }
                if is_key_sep(r) || r == EOF {
                    if !self.emit(ItemKind::Key) {
                        return None;
                    }
                    return Some(KeyEnd);
                }
                self.next();
                Some(Key)
            }
            KeyEnd => {
                let r = self.next();
                if is_space(r) {
                    self.ignore();
                    return Some(KeyEnd);
                }
                if is_key_sep(r) {
                    self.ignore();
                    return Some(Value);
                }
                if r == EOF {
                    return self.emit_eof();
                }
                self.backup();
                Some(Value)
            }
            IncludeStart => {
                let r = self.next();
                if is_ws(r) {
                    self.ignore();
                    return Some(IncludeStart);
                }
                self.backup();
                Some(Include)
            }
            Include => {
                let r = self.next();
                match r {
                    '\'' => {
                        self.ignore();
                        Some(IncludeQuotedString)
                    }
                    '"' => {
                        self.ignore();
                        Some(IncludeDubQuotedString)
                    }
                    '[' => self.errorf("expected include value but found start of an array"),
                    '{' => self.errorf("expected include value but found start of a map"),
                    '(' => self.errorf("expected include value but found start of a block"),
                    '\\' => self.errorf("expected include value but found escape sequence"),
                    c if c.is_ascii_digit() || c == '-' => {
                        self.errorf("expected include value but found start of a number")
                    }
                    c if is_nl(c) => self.errorf("expected include value but found new line"),
                    EOF => self.errorf("expected include value but found EOF"),
                    _ => {
                        self.backup();
                        Some(IncludeString)
                    }
                }
            }
            IncludeQuotedString | IncludeDubQuotedString => {
                let quote = if s == IncludeQuotedString { '\'' } else { '"' };
                let r = self.next();
                if r == quote {
                    self.backup();
                    if !self.emit(ItemKind::Include) {
                        return None;
                    }
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                if r == EOF {
                    return self.error_at(
                        self.tok_begin.saturating_sub(1),
                        "unterminated quoted include",
                    );
                }
                Some(s)
            }
            IncludeString => {
                let r = self.next();
                if is_nl(r) || r == EOF || r == ';' || r == '}' || is_ws(r) {
                    self.backup();
                    if !self.emit(ItemKind::Include) {
                        return None;
                    }
                    return self.pop();
                }
                if r == '\'' {
                    self.backup();
                    if !self.emit(ItemKind::Include) {
                        return None;
                    }
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                Some(IncludeString)
            }
            Value => {
                let r = self.next();
                if is_ws(r) {
                    self.ignore();
                    return Some(Value);
                }
                match r {
                    '[' => {
                        self.emit_bracket(ItemKind::ArrayStart);
                        Some(ArrayValue)
                    }
                    '{' => {
                        self.emit_bracket(ItemKind::MapStart);
                        Some(MapKeyStart)
                    }
                    '\'' => {
                        self.ignore();
                        Some(QuotedString)
                    }
                    '"' => {
                        self.ignore();
                        self.string_state = DubQuotedString;
                        Some(DubQuotedString)
                    }
                    '-' => Some(NegNumberStart),
                    '(' => {
                        self.ignore();
                        Some(Block)
                    }
                    c if c.is_ascii_digit() => {
                        self.backup();
                        Some(NumberStart)
                    }
                    '.' => self.errorf("floats must start with a digit"),
                    c if is_nl(c) => self.errorf("expected value but found new line"),
                    _ => {
                        self.backup();
                        self.string_state = String;
                        Some(String)
                    }
                }
            }
            ArrayValue => {
                let r = self.next();
                if is_space(r) {
                    self.ignore();
                    return Some(ArrayValue);
                }
                match r {
                    '#' => {
                        self.push(ArrayValue);
                        Some(Comment)
                    }
                    '/' => {
                        if self.next() == '/' {
                            self.push(ArrayValue);
                            return Some(Comment);
                        }
                        self.backup();
                        self.errorf("unexpected array value terminator ','")
                    }
                    ',' => self.errorf("unexpected array value terminator ','"),
                    ']' => {
                        self.emit_bracket(ItemKind::ArrayEnd);
                        self.pop()
                    }
                    _ => {
                        self.backup();
                        self.push(ArrayValueEnd);
                        Some(Value)
                    }
                }
            }
            ArrayValueEnd => {
                let r = self.next();
                match r {
                    c if is_ws(c) => {
                        self.ignore();
                        Some(ArrayValueEnd)
                    }
                    '#' => {
                        self.push(ArrayValueEnd);
                        Some(Comment)
                    }
                    '/' => {
                        if self.next() == '/' {
                            self.push(ArrayValueEnd);
                            return Some(Comment);
                        }
                        // Go: a lone '/' separates values like ','.
                        self.backup();
                        self.ignore();
                        Some(ArrayValue)
                    }
                    c if c == ',' || is_nl(c) => {
                        self.ignore();
                        Some(ArrayValue)
                    }
                    ']' => {
                        self.emit_bracket(ItemKind::ArrayEnd);
                        self.pop()
                    }
                    c => self.errorf(format!(
                        "expected an array value terminator ',' or an array terminator ']', but got '{}' instead",
                        show(c)
                    )),
                }
            }
            MapKeyStart => {
                let r = self.peek();
                if is_key_sep(r) {
                    self.next();
                    return self.errorf(format!("unexpected key separator '{r}'"));
                }
                if r == ']' {
                    self.next();
                    return self.errorf("unexpected array end ']' processing map");
                }
                if is_space(r) {
                    self.next();
                    self.ignore();
                    return Some(MapKeyStart);
                }
                match r {
                    '}' => {
                        self.next();
                        self.emit_bracket(ItemKind::MapEnd);
                        self.pop()
                    }
                    '#' => {
                        self.next();
                        self.push(MapKeyStart);
                        Some(Comment)
                    }
                    '/' => {
                        let at = self.pos;
                        self.next();
                        if self.next() == '/' {
                            self.push(MapKeyStart);
                            return Some(Comment);
                        }
                        self.backup();
                        // Go: the '/' is dropped from the key; kept here.
                        self.start = at;
                        self.tok_begin = at;
                        Some(MapKey)
                    }
                    '\'' => {
                        self.next();
                        self.ignore();
                        Some(MapQuotedKey)
                    }
                    '"' => {
                        self.next();
                        self.ignore();
                        Some(MapDubQuotedKey)
                    }
                    EOF => self.errorf("unexpected EOF processing map"),
                    _ => {
                        self.ignore();
                        self.next();
                        Some(MapKey)
                    }
                }
            }
            MapKey => {
                let r = self.peek();
                if r == EOF {
                    return self.errorf("unexpected EOF processing map key");
                }
                if is_space(r) {
                    return self.key_check_keyword(MapKeyEnd, Some(MapValueEnd));
                }
                if is_key_sep(r) {
                    if !self.emit(ItemKind::Key) {
                        return None;
                    }
                    return Some(MapKeyEnd);
                }
                self.next();
                Some(MapKey)
            }
            MapKeyEnd => {
                let r = self.next();
                if is_space(r) {
                    self.ignore();
                    return Some(MapKeyEnd);
                }
                if is_key_sep(r) {
                    self.ignore();
                    return Some(MapValue);
                }
                self.backup();
                Some(MapValue)
            }
            MapValue => {
                let r = self.next();
                if is_space(r) {
                    self.ignore();
                    return Some(MapValue);
                }
                match r {
                    ',' => self.errorf("unexpected map value terminator ','"),
                    '}' => {
                        // A key without a value: the parser reports it.
                        self.emit_bracket(ItemKind::MapEnd);
                        self.pop()
                    }
                    _ => {
                        self.backup();
                        self.push(MapValueEnd);
                        Some(Value)
                    }
                }
            }
            MapValueEnd => {
                let r = self.next();
                match r {
                    c if is_ws(c) => {
                        self.ignore();
                        Some(MapValueEnd)
                    }
                    '#' => {
                        self.push(MapValueEnd);
                        Some(Comment)
                    }
                    '/' => {
                        if self.next() == '/' {
                            self.push(MapValueEnd);
                            return Some(Comment);
                        }
                        // Go: a lone '/' separates entries like ','.
                        self.backup();
                        self.ignore();
                        Some(MapKeyStart)
                    }
                    c if c == ';' || c == ',' || is_nl(c) => {
                        self.ignore();
                        Some(MapKeyStart)
                    }
                    '}' => {
                        self.emit_bracket(ItemKind::MapEnd);
                        self.pop()
                    }
                    c => self.errorf(format!(
                        "expected a map value terminator ',' or a map terminator '}}', but got '{}' instead",
                        show(c)
                    )),
                }
            }
            QuotedString => {
                let r = self.next();
                if r == '\'' {
                    self.backup();
                    if !self.emit(ItemKind::String) {
                        return None;
                    }
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                if r == EOF {
                    return self.error_at(
                        self.tok_begin.saturating_sub(1),
                        "unterminated quoted string",
                    );
                }
                Some(QuotedString)
            }
            DubQuotedString => {
                let r = self.next();
                match r {
                    '\\' => {
                        self.add_current_string_part(1);
                        Some(StringEscape)
                    }
                    '"' => {
                        self.backup();
                        if !self.emit(ItemKind::String) {
                            return None;
                        }
                        self.next();
                        self.ignore();
                        self.pop()
                    }
                    EOF => self.error_at(
                        self.tok_begin.saturating_sub(1),
                        "unterminated quoted string",
                    ),
                    _ => Some(DubQuotedString),
                }
            }
            String => {
                let r = self.next();
                if r == '\\' {
                    self.add_current_string_part(1);
                    return Some(StringEscape);
                }
                if is_nl(r) || r == EOF || r == ';' || r == ',' || r == ']' || r == '}' || is_ws(r)
                {
                    self.backup();
                    let kind = if self.has_parts {
                        ItemKind::String
                    } else if self.is_bool() {
                        ItemKind::Bool
                    } else if self.is_variable() {
                        ItemKind::Variable
                    } else {
                        ItemKind::String
                    };
                    if !self.emit(kind) {
                        return None;
                    }
                    return self.pop();
                }
                if r == '\'' {
                    self.backup();
                    if !self.emit(ItemKind::String) {
                        return None;
                    }
                    self.next();
                    self.ignore();
                    return self.pop();
                }
                Some(String)
            }
            Block => {
                let r = self.next();
                if r == ')' {
                    let close = self.pos - 1;
                    let after_nl =
                        close > 0 && self.input.as_bytes().get(close - 1) == Some(&b'\n');
                    let nxt = self.peek();
                    // Go: only "\n" or EOF may follow; "\r" is accepted too
                    // so that CRLF files work.
                    if after_nl && (nxt == '\n' || nxt == '\r' || nxt == EOF) {
                        let val = self.input.get(self.start..close).unwrap_or("").to_string();
                        self.items.push_back(Ok(Item {
                            kind: ItemKind::String,
                            val,
                            offset: self.tok_begin,
                        }));
                        self.ignore();
                        return self.pop();
                    }
                    return Some(Block);
                }
                if r == EOF {
                    return self.error_at(
                        self.tok_begin.saturating_sub(1),
                        "unterminated block: a block ends with ')' alone on its line",
                    );
                }
                Some(Block)
            }
            StringEscape => {
                let r = self.next();
                match r {
                    'x' => Some(StringBinary),
                    't' => self.add_string_part(b"\t"),
                    'n' => self.add_string_part(b"\n"),
                    'r' => self.add_string_part(b"\r"),
                    '"' => self.add_string_part(b"\""),
                    '\\' => self.add_string_part(b"\\"),
                    c => self.errorf(format!(
                        "invalid escape character '{}'; only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\",
                        show(c)
                    )),
                }
            }
            StringBinary => {
                let a = self.next();
                if is_nl(a) {
                    return self.errorf(
                        "expected two hexadecimal digits after '\\x', but hit end of line",
                    );
                }
                let b = self.next();
                if is_nl(b) {
                    return self.errorf(
                        "expected two hexadecimal digits after '\\x', but hit end of line",
                    );
                }
                match (a.to_digit(16), b.to_digit(16)) {
                    (Some(h), Some(l)) if a.is_ascii() && b.is_ascii() => {
                        // h, l < 16: the byte fits.
                        let byte = u8::try_from(h * 16 + l).unwrap_or(0);
                        self.add_string_part(&[byte])
                    }
                    _ => self.errorf(format!(
                        "expected two hexadecimal digits after '\\x', but got '{}{}'",
                        show(a),
                        show(b)
                    )),
                }
            }
            NumberStart | NegNumberStart => {
                let r = self.next();
                if !r.is_ascii_digit() {
                    if r == '.' {
                        return self.errorf("floats must start with a digit, not '.'");
                    }
                    return self.errorf(format!("expected a digit but got '{}'", show(r)));
                }
                Some(if s == NumberStart { Number } else { NegNumber })
            }
            Number => {
                let r = self.next();
                match r {
                    '-' => {
                        if self.pos - self.start != 5 {
                            return self.errorf("all ISO8601 dates must be in full Zulu form");
                        }
                        Some(DateAfterYear)
                    }
                    c if c.is_ascii_digit() => Some(Number),
                    '.' => Some(FloatStart),
                    c if is_suffix(c) => Some(ConvenientNumber),
                    c if ends_number(c) => {
                        self.backup();
                        if !self.emit(ItemKind::Integer) {
                            return None;
                        }
                        self.pop()
                    }
                    _ => {
                        // Not a number after all: an unquoted string
                        // starting with digits, such as `10s`.
                        self.string_state = String;
                        Some(String)
                    }
                }
            }
            ConvenientNumber => {
                let r = self.next();
                if matches!(r, 'b' | 'B' | 'i' | 'I') {
                    return Some(ConvenientNumber);
                }
                self.backup();
                // Go (before nats-server#8263): a digit also ended the
                // number, leaving e.g. `1m30s` unparsable.
                if ends_number(r) {
                    if !self.emit(ItemKind::Integer) {
                        return None;
                    }
                    return self.pop();
                }
                self.string_state = String;
                Some(String)
            }
            DateAfterYear => {
                const FORMAT: &[char] = &[
                    '0', '0', '-', '0', '0', 'T', '0', '0', ':', '0', '0', ':', '0', '0', 'Z',
                ];
                for &f in FORMAT {
                    let r = self.next();
                    if f == '0' {
                        if !r.is_ascii_digit() {
                            return self.errorf(format!(
                                "expected digit in ISO8601 datetime, but found '{}' instead",
                                show(r)
                            ));
                        }
                    } else if f != r {
                        return self.errorf(format!(
                            "expected '{f}' in ISO8601 datetime, but found '{}' instead",
                            show(r)
                        ));
                    }
                }
                if !self.emit(ItemKind::DateTime) {
                    return None;
                }
                self.pop()
            }
            NegNumber => {
                let r = self.next();
                match r {
                    c if c.is_ascii_digit() => Some(NegNumber),
                    '.' => Some(FloatStart),
                    c if is_suffix(c) => Some(ConvenientNumber),
                    _ => {
                        self.backup();
                        if !self.emit(ItemKind::Integer) {
                            return None;
                        }
                        self.pop()
                    }
                }
            }
            FloatStart => {
                let r = self.next();
                if !r.is_ascii_digit() {
                    return self.errorf(format!(
                        "floats must have a digit after the '.', but got '{}' instead",
                        show(r)
                    ));
                }
                Some(Float)
            }
            Float => {
                let r = self.next();
                if r.is_ascii_digit() {
                    return Some(Float);
                }
                if r == '.' {
                    return Some(IpAddr);
                }
                self.backup();
                if !self.emit(ItemKind::Float) {
                    return None;
                }
                self.pop()
            }
            IpAddr => {
                let r = self.next();
                if r.is_ascii_digit() || r == '.' || r == ':' || r == '-' {
                    return Some(IpAddr);
                }
                self.backup();
                if !self.emit(ItemKind::String) {
                    return None;
                }
                self.pop()
            }
            Comment => {
                let r = self.peek();
                if is_nl(r) || r == EOF {
                    self.ignore();
                    return self.pop();
                }
                self.next();
                Some(Comment)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &str) -> Vec<(ItemKind, String)> {
        let mut lx = Lexer::new(input);
        let mut out = Vec::new();
        loop {
            match lx.next_item() {
                Ok(i) if i.kind == ItemKind::Eof => return out,
                Ok(i) => out.push((i.kind, i.val)),
                Err(e) => {
                    out.push((ItemKind::Eof, format!("error: {}", e.msg)));
                    return out;
                }
            }
        }
    }

    fn k(s: &str) -> (ItemKind, String) {
        (ItemKind::Key, s.into())
    }
    fn st(s: &str) -> (ItemKind, String) {
        (ItemKind::String, s.into())
    }
    fn int(s: &str) -> (ItemKind, String) {
        (ItemKind::Integer, s.into())
    }

    #[test]
    fn separators() {
        for src in [
            "foo = 123",
            "foo: 123",
            "foo 123",
            "foo=123",
            "foo\t123",
            "foo:  123\r\n",
        ] {
            assert_eq!(items(src), vec![k("foo"), int("123")], "{src:?}");
        }
    }

    #[test]
    fn numbers_and_strings_starting_with_digits() {
        assert_eq!(items("a = 10s"), vec![k("a"), st("10s")]);
        assert_eq!(items("a = 1m30s"), vec![k("a"), st("1m30s")]);
        assert_eq!(items("a = 500ms"), vec![k("a"), st("500ms")]);
        assert_eq!(items("a = 1MB"), vec![k("a"), int("1MB")]);
        assert_eq!(items("a = 2KiB"), vec![k("a"), int("2KiB")]);
        assert_eq!(items("a = 4e2abc"), vec![k("a"), st("4e2abc")]);
        assert_eq!(items("a = -12"), vec![k("a"), int("-12")]);
        assert_eq!(items("a = [1, 2]"), {
            vec![
                k("a"),
                (ItemKind::ArrayStart, String::new()),
                int("1"),
                int("2"),
                (ItemKind::ArrayEnd, String::new()),
            ]
        });
        assert_eq!(
            items("a = 127.0.0.1:4222"),
            vec![k("a"), st("127.0.0.1:4222")]
        );
        assert_eq!(
            items("a = 2.5"),
            vec![k("a"), (ItemKind::Float, "2.5".into())]
        );
        assert_eq!(
            items("a = 2016-05-04T18:53:41Z"),
            vec![k("a"), (ItemKind::DateTime, "2016-05-04T18:53:41Z".into())]
        );
    }

    #[test]
    fn bools_variables_escapes() {
        assert_eq!(
            items("a = Yes"),
            vec![k("a"), (ItemKind::Bool, "Yes".into())]
        );
        assert_eq!(items("a = \"true\""), vec![k("a"), st("true")]);
        assert_eq!(
            items("a = $b"),
            vec![k("a"), (ItemKind::Variable, "b".into())]
        );
        assert_eq!(items(r"a = \\$var"), vec![k("a"), st(r"\$var")]);
        assert_eq!(items(r"a = start\x45\x71"), vec![k("a"), st("startEq")]);
        assert_eq!(items(r#"a = "x\ty\"""#), vec![k("a"), st("x\ty\"")]);
        assert_eq!(items("a = 'x\\ty'"), vec![k("a"), st("x\\ty")]);
    }

    #[test]
    fn block_strings() {
        assert_eq!(
            items("numbers (\n1234567890\n)\n"),
            vec![k("numbers"), st("\n1234567890\n")]
        );
        assert_eq!(
            items("n (\n  12(34)56\n  (\n    7890\n  )\n)"),
            vec![k("n"), st("\n  12(34)56\n  (\n    7890\n  )\n")]
        );
    }
}
