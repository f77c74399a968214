//! psql's reading of a script (its lexer, psqlscan.l): SQL with '...' strings
//! (backslash escapes in E'...' strings, and in all of them when
//! `standard_conforming_strings` is off), "..." identifiers, $tag$...$tag$ bodies, `--`
//! and nested `/* */` comments; a backslash anywhere else starts a meta-command; after
//! `COPY ... FROM stdin;` every line is data up to a line `\.`.

use memchr::{memchr, memchr2, memchr3};

use super::{MAX_HOLD, Position, Refusal, View, shown};

pub(super) fn views() -> Vec<Box<dyn View>> {
    vec![
        // pg_dump writes `SET standard_conforming_strings = on;`.
        Box::new(Psql::new(true, Strictness::Every)),
        // A dump that turns it off makes psql read '...' as escaping strings.
        Box::new(Psql::new(false, Strictness::Harmful)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// The reading the dump is written for: no meta-command but pg_dump's own.
    Every,
    /// A reading a dump can switch psql to: no meta-command that reaches past the
    /// database or changes how psql reads.
    Harmful,
}

/// Meta-commands that run programs, touch files, connect, or change psql's variables or
/// its reading of the input.
const HARMFUL: &[&str] = &[
    "!",
    "o",
    "out",
    "g",
    "gx",
    "gexec",
    "gset",
    "gdesc",
    "w",
    "write",
    "i",
    "include",
    "ir",
    "include_relative",
    "e",
    "edit",
    "ef",
    "ev",
    "s",
    "copy",
    "cd",
    "c",
    "connect",
    "setenv",
    "set",
    "unset",
    "prompt",
    "password",
    "encoding",
    "getenv",
    "lo_export",
    "lo_import",
    "lo_unlink",
    "lo_list",
    "if",
    "elif",
    "else",
    "endif",
    "bind",
    "bind_named",
    "parse",
    "close",
    "close_prepared",
    "startpipeline",
    "endpipeline",
    "sendpipeline",
    "syncpipeline",
    "flush",
    "flushrequest",
    "getresults",
    "watch",
    "pset",
];

/// What may follow a backslash in COPY's text format (`\N`, `\\`, `\t`, octal, hex...).
fn copy_escape(c: u8) -> bool {
    !(c == b'!' || (c.is_ascii_alphabetic() && !b"bfnrtvNx".contains(&c)))
}

fn name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 || c == b'$'
}

#[derive(Debug)]
enum State {
    Normal,
    Single {
        escapes: bool,
    },
    SingleEscape,
    /// A `'` inside a string: another `'` continues it.
    SingleEnd {
        escapes: bool,
    },
    Double,
    DoubleEnd,
    DollarTag {
        tag: Vec<u8>,
    },
    Dollar {
        tag: Vec<u8>,
        matched: usize,
    },
    Dash,
    LineComment,
    Slash,
    Block {
        depth: u32,
    },
    BlockStar {
        depth: u32,
    },
    BlockSlash {
        depth: u32,
    },
    /// After a backslash: the command's name, then (for `\restrict`) the rest of the line.
    Meta {
        name: Vec<u8>,
        line_start: bool,
        named: bool,
        rest: Vec<u8>,
    },
    /// The arguments of a harmless meta-command, to the end of the line.
    MetaArgs,
    /// After `COPY ... FROM stdin;`: nothing else on its line.
    CopyTail,
    Data {
        line_start: bool,
    },
    DataBackslash {
        line_start: bool,
    },
    DataDot {
        cr: bool,
    },
}

/// What the statement so far says about COPY.
#[derive(Debug, Default)]
struct Statement {
    words: u32,
    first_is_copy: bool,
    last_was_from: bool,
    from_stdin: bool,
    word: Vec<u8>,
    parens: u32,
}

impl Statement {
    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let w = std::mem::take(&mut self.word).to_ascii_lowercase();
        if self.words == 0 {
            self.first_is_copy = w == b"copy";
        } else if self.last_was_from && w == b"stdin" {
            self.from_stdin = true;
        }
        self.last_was_from = w == b"from";
        self.words += 1;
    }
}

pub(super) struct Psql {
    std_strings: bool,
    strictness: Strictness,
    state: State,
    stmt: Statement,
    at: Position,
    line_start: bool,
    /// Line and bytes of the token being decided.
    token_line: u64,
    hold: usize,
}

impl Psql {
    fn new(std_strings: bool, strictness: Strictness) -> Psql {
        Psql {
            std_strings,
            strictness,
            state: State::Normal,
            stmt: Statement::default(),
            at: Position::new(),
            line_start: true,
            token_line: 1,
            hold: 0,
        }
    }

    fn refuse(&self, what: String) -> Refusal {
        Refusal {
            line: self.token_line,
            what,
        }
    }

    /// One byte in the Normal state.
    fn normal(&mut self, c: u8) -> Result<(), Refusal> {
        let line_start = self.line_start;
        self.line_start = c == b'\n';
        if c == b'\n' {
            self.at.line += 1;
        }
        let in_word = !self.stmt.word.is_empty();
        if ident_char(c) && (c != b'$' || in_word) {
            if self.stmt.word.len() < 16 {
                self.stmt.word.push(c);
            } else {
                self.stmt.word.clear();
                self.stmt.word.extend_from_slice(b"################");
            }
            return Ok(());
        }
        // E'...' (and e'...') strings take backslash escapes.
        let e_string = c == b'\'' && self.stmt.word.eq_ignore_ascii_case(b"e");
        self.stmt.end_word();
        match c {
            b'\'' => {
                self.state = State::Single {
                    escapes: e_string || !self.std_strings,
                };
            }
            b'"' => self.state = State::Double,
            b'$' => self.state = State::DollarTag { tag: Vec::new() },
            b'-' => self.state = State::Dash,
            b'/' => self.state = State::Slash,
            b'\\' => {
                self.token_line = self.at.line;
                self.state = State::Meta {
                    name: Vec::new(),
                    line_start,
                    named: false,
                    rest: Vec::new(),
                };
                self.hold = 1;
            }
            b'(' => self.stmt.parens += 1,
            b')' => self.stmt.parens = self.stmt.parens.saturating_sub(1),
            b';' if self.stmt.parens == 0 => {
                let copy_in = self.stmt.first_is_copy && self.stmt.from_stdin;
                self.stmt = Statement::default();
                if copy_in {
                    self.token_line = self.at.line;
                    self.state = State::CopyTail;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The command name is complete (`next` is the byte after it, if any).
    fn meta_named(&mut self, name: &[u8], line_start: bool) -> Result<bool, Refusal> {
        let text = shown(name);
        if line_start && (name == b"restrict" || name == b"unrestrict") {
            // pg_dump's own: `\restrict KEY` alone on its line. Decided at the newline.
            return Ok(true);
        }
        let harmful = HARMFUL.contains(&text.as_str());
        if self.strictness == Strictness::Every || harmful {
            return Err(self.refuse(format!(
                "`\\{text}` is a psql meta-command outside COPY data; a dump must not run client commands"
            )));
        }
        Ok(false)
    }

    fn step(&mut self, bytes: &[u8], mut i: usize) -> Result<usize, Refusal> {
        let c = bytes[i];
        match &mut self.state {
            State::Normal => self.normal(c)?,
            State::Single { escapes } => {
                let escapes = *escapes;
                let found = if escapes {
                    memchr3(b'\'', b'\\', b'\n', &bytes[i..])
                } else {
                    memchr2(b'\'', b'\n', &bytes[i..])
                };
                let Some(off) = found else {
                    return Ok(bytes.len());
                };
                i += off;
                match bytes[i] {
                    b'\'' => self.state = State::SingleEnd { escapes },
                    b'\\' => self.state = State::SingleEscape,
                    _ => self.at.line += 1,
                }
                return Ok(i + 1);
            }
            State::SingleEscape => {
                if c == b'\n' {
                    self.at.line += 1;
                }
                self.state = State::Single { escapes: true };
            }
            State::SingleEnd { escapes } => {
                if c == b'\'' {
                    let escapes = *escapes;
                    self.state = State::Single { escapes };
                } else {
                    self.state = State::Normal;
                    return Ok(i); // c is read again in Normal
                }
            }
            State::Double => {
                let Some(off) = memchr2(b'"', b'\n', &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                i += off;
                if bytes[i] == b'"' {
                    self.state = State::DoubleEnd;
                } else {
                    self.at.line += 1;
                }
                return Ok(i + 1);
            }
            State::DoubleEnd => {
                if c == b'"' {
                    self.state = State::Double;
                } else {
                    self.state = State::Normal;
                    // A quoted identifier ends a word like any other.
                    self.stmt.word.clear();
                    self.stmt.words += 1;
                    self.stmt.last_was_from = false;
                    return Ok(i);
                }
            }
            State::DollarTag { tag } => {
                let starts = tag.is_empty();
                if c == b'$' {
                    let tag = std::mem::take(tag);
                    self.state = State::Dollar { tag, matched: 0 };
                } else if (c.is_ascii_alphabetic() || c == b'_' || c >= 0x80)
                    || (!starts && c.is_ascii_digit())
                {
                    if tag.len() >= MAX_HOLD {
                        return Err(self.refuse("a dollar-quote tag too long to follow".into()));
                    }
                    tag.push(c);
                } else {
                    // `$1` or a lone `$`: not a dollar quote.
                    self.state = State::Normal;
                    return Ok(i);
                }
            }
            State::Dollar { tag, matched } => {
                if *matched == 0 {
                    let Some(off) = memchr2(b'$', b'\n', &bytes[i..]) else {
                        return Ok(bytes.len());
                    };
                    i += off;
                    if bytes[i] == b'\n' {
                        self.at.line += 1;
                    } else {
                        *matched = 1;
                    }
                    return Ok(i + 1);
                }
                // Matching `tag$` after a `$`.
                let k = *matched - 1;
                if k < tag.len() && c == tag[k] {
                    *matched += 1;
                } else if k == tag.len() && c == b'$' {
                    self.state = State::Normal;
                } else if c == b'$' {
                    *matched = 1;
                } else {
                    *matched = 0;
                    if c == b'\n' {
                        self.at.line += 1;
                    }
                }
            }
            State::Dash => {
                if c == b'-' {
                    self.state = State::LineComment;
                } else {
                    self.state = State::Normal;
                    return Ok(i);
                }
            }
            State::LineComment => {
                let Some(off) = memchr(b'\n', &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                self.state = State::Normal;
                return Ok(i + off); // the newline is read in Normal
            }
            State::Slash => {
                if c == b'*' {
                    self.state = State::Block { depth: 1 };
                } else {
                    self.state = State::Normal;
                    return Ok(i);
                }
            }
            State::Block { depth } => {
                let depth = *depth;
                let Some(off) = memchr3(b'*', b'/', b'\n', &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                i += off;
                match bytes[i] {
                    b'*' => self.state = State::BlockStar { depth },
                    b'/' => self.state = State::BlockSlash { depth },
                    _ => self.at.line += 1,
                }
                return Ok(i + 1);
            }
            State::BlockStar { depth } => {
                let depth = *depth;
                match c {
                    b'/' if depth == 1 => self.state = State::Normal,
                    b'/' => self.state = State::Block { depth: depth - 1 },
                    b'*' => {}
                    _ => {
                        self.state = State::Block { depth };
                        return Ok(i);
                    }
                }
            }
            State::BlockSlash { depth } => {
                let depth = *depth;
                if c == b'*' {
                    self.state = State::Block { depth: depth + 1 };
                } else {
                    self.state = State::Block { depth };
                    return Ok(i);
                }
            }
            State::Meta {
                name,
                line_start,
                named,
                rest,
            } => {
                self.hold += 1;
                if !*named {
                    if name.is_empty() && !name_char(c) {
                        // A one-character command: `\!`, `\?`, `\\`; a backslash at the
                        // end of a line is none.
                        if c == b'\n' {
                            self.state = State::Normal;
                            self.hold = 0;
                            return Ok(i);
                        }
                        let name = vec![c];
                        self.meta_named(&name, false)?;
                        self.state = State::MetaArgs;
                        self.hold = 0;
                        return Ok(i + 1);
                    }
                    if name_char(c) && name.len() < MAX_HOLD {
                        name.push(c);
                        return Ok(i + 1);
                    }
                    let name = name.clone();
                    let line_start = *line_start;
                    if self.meta_named(&name, line_start)? {
                        if let State::Meta { named, .. } = &mut self.state {
                            *named = true;
                        }
                        return Ok(i); // c is the first byte of the rest of the line
                    }
                    self.state = State::MetaArgs;
                    self.hold = 0;
                    return Ok(i);
                }
                // `\restrict` or `\unrestrict`: ` KEY` and the end of the line.
                if c == b'\n' {
                    let key = String::from_utf8_lossy(rest).trim().to_string();
                    if key.is_empty()
                        || key.len() > 256
                        || !key.chars().all(|ch| ch.is_ascii_alphanumeric())
                    {
                        return Err(Refusal {
                            line: self.token_line,
                            what: format!(
                                "`\\{}` with `{}` is not pg_dump's restrict line",
                                shown(name),
                                shown(rest)
                            ),
                        });
                    }
                    self.state = State::Normal;
                    self.hold = 0;
                    return Ok(i); // the newline is read in Normal
                }
                if rest.len() >= MAX_HOLD - 32 {
                    return Err(Refusal {
                        line: self.token_line,
                        what: format!(
                            "`\\{}` followed by a long line is not pg_dump's restrict line",
                            shown(name)
                        ),
                    });
                }
                rest.push(c);
            }
            State::MetaArgs => {
                // psql reads a command's arguments to the end of the line or the next
                // backslash (another command).
                let Some(off) = memchr2(b'\n', b'\\', &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                self.state = State::Normal;
                return Ok(i + off);
            }
            State::CopyTail => match c {
                b' ' | b'\t' | b'\r' => {}
                b'\n' => {
                    self.at.line += 1;
                    self.state = State::Data { line_start: true };
                    return Ok(i + 1);
                }
                _ => {
                    return Err(self.refuse(
                        "`COPY ... FROM stdin;` must end its line (its data starts on the next)"
                            .into(),
                    ));
                }
            },
            State::Data { line_start } => {
                if *line_start && c == b'\\' {
                    self.token_line = self.at.line;
                    self.hold = 1;
                    self.state = State::DataBackslash { line_start: true };
                    return Ok(i + 1);
                }
                let Some(off) = memchr2(b'\\', b'\n', &bytes[i..]) else {
                    *line_start = false;
                    return Ok(bytes.len());
                };
                i += off;
                if bytes[i] == b'\n' {
                    self.at.line += 1;
                    *line_start = true;
                } else {
                    self.token_line = self.at.line;
                    self.hold = 1;
                    self.state = State::DataBackslash { line_start: false };
                }
                return Ok(i + 1);
            }
            State::DataBackslash { line_start } => {
                self.hold = 0;
                if *line_start && c == b'.' {
                    self.state = State::DataDot { cr: false };
                } else if copy_escape(c) {
                    if c == b'\n' {
                        self.at.line += 1;
                        self.state = State::Data { line_start: true };
                    } else {
                        self.state = State::Data { line_start: false };
                    }
                } else {
                    return Err(self.refuse(format!(
                        "`\\{}` in COPY data is no escape COPY writes (psql would read it as a meta-command if the COPY failed)",
                        shown(&[c])
                    )));
                }
            }
            State::DataDot { cr } => match c {
                b'\n' => {
                    self.at.line += 1;
                    self.line_start = true;
                    self.state = State::Normal;
                    return Ok(i + 1);
                }
                b'\r' if !*cr => *cr = true,
                _ => {
                    // `\.` with more on its line is data (and COPY's error).
                    self.state = State::Data { line_start: false };
                    return Ok(i);
                }
            },
        }
        Ok(i + 1)
    }
}

impl View for Psql {
    fn feed(&mut self, bytes: &[u8]) -> Result<usize, Refusal> {
        let mut i = 0;
        while i < bytes.len() {
            i = self.step(bytes, i)?;
        }
        Ok(self.hold)
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        // A command at the very end, with no newline after it.
        match &self.state {
            State::Meta {
                name,
                named: false,
                line_start,
                ..
            } if !name.is_empty() => {
                let (name, line_start) = (name.clone(), *line_start);
                if self.meta_named(&name, line_start)? {
                    return Err(self.refuse(format!(
                        "`\\{}` without its key is not pg_dump's restrict line",
                        shown(&name)
                    )));
                }
                Ok(())
            }
            State::Meta {
                name,
                named: true,
                rest,
                ..
            } => {
                let key = String::from_utf8_lossy(rest).trim().to_string();
                if key.is_empty() || !key.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                    return Err(self.refuse(format!(
                        "`\\{}` with `{}` is not pg_dump's restrict line",
                        shown(name),
                        shown(rest)
                    )));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
