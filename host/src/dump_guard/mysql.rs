//! The mysql (MariaDB) client's reading of a script (client/mysql.cc, `add_line` and
//! `find_command`): strings in '...', "..." and `...`, `#` and `-- ` comments to the end
//! of the line, `/* */` comments (but `/*!` and `/*M!` hold SQL), statements ended by the
//! delimiter. A backslash outside strings and comments is a command (`\N` is NULL), and
//! a line that starts a statement with a command's name is that command (`system ls`).

use memchr::{memchr, memchr2, memchr3};

use super::{MAX_HOLD, Position, Refusal, View, shown};

pub(super) fn views() -> Vec<Box<dyn View>> {
    vec![
        // MariaDB/MySQL 8 clients under the default sql_mode, which mysqldump keeps.
        Box::new(Mysql::new(Escapes::DEFAULT, Strictness::Every)),
        // NO_BACKSLASH_ESCAPES: no escapes at all.
        Box::new(Mysql::new(Escapes::NONE, Strictness::Harmful)),
        // ANSI_QUOTES: "..." is an identifier, without escapes.
        Box::new(Mysql::new(Escapes::ANSI_QUOTES, Strictness::Harmful)),
        // Older clients, which took a backslash in `...` as an escape too.
        Box::new(Mysql::new(Escapes::ALL, Strictness::Harmful)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// The reading the dump is written for: no command but `\-` (sandbox) and DELIMITER.
    Every,
    /// A reading a dump can switch the client to: no command that reaches past the
    /// server or changes how the client reads. Misread data shows `\n`, `\r`, `\0`, `\Z`
    /// and other harmless ones.
    Harmful,
}

/// Whether a backslash escapes the next byte inside each kind of quote.
#[derive(Debug, Clone, Copy)]
struct Escapes {
    single: bool,
    double: bool,
    backtick: bool,
}

impl Escapes {
    const DEFAULT: Escapes = Escapes {
        single: true,
        double: true,
        backtick: false,
    };
    const NONE: Escapes = Escapes {
        single: false,
        double: false,
        backtick: false,
    };
    const ANSI_QUOTES: Escapes = Escapes {
        single: true,
        double: false,
        backtick: false,
    };
    const ALL: Escapes = Escapes {
        single: true,
        double: true,
        backtick: true,
    };

    fn within(self, quote: u8) -> bool {
        match quote {
            b'\'' => self.single,
            b'"' => self.double,
            _ => self.backtick,
        }
    }
}

/// The client's commands by name (`help` lists them), matched case-insensitively as the
/// first word of a statement's first line.
const NAMED: &[&str] = &[
    "?",
    "clear",
    "connect",
    "delimiter",
    "edit",
    "ego",
    "exit",
    "go",
    "help",
    "nopager",
    "notee",
    "nowarning",
    "pager",
    "print",
    "prompt",
    "quit",
    "rehash",
    "sandbox",
    "source",
    "status",
    "system",
    "tee",
    "use",
    "charset",
    "warnings",
];
/// Those that run programs, touch files, connect elsewhere, or change the client's
/// reading (charset, delimiter outside the guard's view).
const HARMFUL_NAMED: &[&str] = &[
    "connect", "edit", "pager", "source", "system", "tee", "charset",
];
/// One-character commands that do the same: `\!` system, `\.` source, `\T` tee, `\P`
/// pager, `\e` edit, `\C` charset, `\d` delimiter. (`\r`, connect, is not among them:
/// misread data holds `\r` for every carriage return.)
const HARMFUL_CHARS: &[u8] = b"!.TPeCd";
/// One-character commands that take the rest of the statement as arguments.
const TAKE_ARGS: &[u8] = b"rRuh?";

#[derive(Debug)]
enum State {
    Normal,
    Quote {
        q: u8,
    },
    QuoteEscape {
        q: u8,
    },
    Dash,
    DashDash,
    LineComment,
    Slash,
    SlashStar,
    SlashStarM,
    Block,
    BlockStar,
    Backslash,
    /// The arguments of a harmless command, to the delimiter or the end of the line.
    Args,
    /// Leading blanks of a line that starts a statement.
    LineStart,
    /// The first word of such a line.
    Word {
        word: Vec<u8>,
    },
    /// `DELIMITER`'s argument.
    Delimiter {
        arg: Vec<u8>,
    },
}

pub(super) struct Mysql {
    escapes: Escapes,
    strictness: Strictness,
    state: State,
    at: Position,
    /// No SQL since the last delimiter (comments do not count: the client drops them).
    statement_empty: bool,
    /// The delimiter: one to four of the same character (`;`, `;;`, `$$`, `//`).
    delimiter: (u8, usize),
    /// How many of the delimiter's characters were just seen.
    delimiter_seen: usize,
    token_line: u64,
    hold: usize,
}

impl Mysql {
    fn new(escapes: Escapes, strictness: Strictness) -> Mysql {
        Mysql {
            escapes,
            strictness,
            state: State::LineStart,
            at: Position::new(),
            statement_empty: true,
            delimiter: (b';', 1),
            delimiter_seen: 0,
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

    fn newline(&mut self) {
        self.at.line += 1;
        self.state = if self.statement_empty {
            State::LineStart
        } else {
            State::Normal
        };
    }

    /// A byte of SQL (not a comment, quote or command).
    fn sql(&mut self, c: u8) {
        if c == self.delimiter.0 {
            self.delimiter_seen += 1;
            if self.delimiter_seen == self.delimiter.1 {
                self.delimiter_seen = 0;
                self.statement_empty = true;
            }
            return;
        }
        self.delimiter_seen = 0;
        if !matches!(c, b' ' | b'\t' | b'\r') {
            self.statement_empty = false;
        }
    }

    fn normal(&mut self, bytes: &[u8], i: usize) -> Result<usize, Refusal> {
        let c = bytes[i];
        match c {
            b'\n' => {
                self.delimiter_seen = 0;
                self.newline();
            }
            b'\'' | b'"' | b'`' => {
                self.sql(c);
                self.state = State::Quote { q: c };
            }
            b'\\' => {
                self.token_line = self.at.line;
                self.hold = 1;
                self.state = State::Backslash;
            }
            b'#' => self.state = State::LineComment,
            b'-' => self.state = State::Dash,
            b'/' => self.state = State::Slash,
            _ => {
                if c != self.delimiter.0 && !self.statement_empty && self.delimiter_seen == 0 {
                    // Plain SQL: jump to the next byte that matters.
                    let d = self.delimiter.0;
                    let mut j = i + 1;
                    while j < bytes.len() && !PLAIN_STOP[bytes[j] as usize] && bytes[j] != d {
                        j += 1;
                    }
                    return Ok(j);
                }
                self.sql(c);
            }
        }
        Ok(i + 1)
    }

    fn named(&mut self, word: &[u8]) -> Result<bool, Refusal> {
        let lower = String::from_utf8_lossy(word).to_ascii_lowercase();
        if lower == "delimiter" || !NAMED.contains(&lower.as_str()) || lower == "use" {
            return Ok(lower == "delimiter");
        }
        if self.strictness == Strictness::Every || HARMFUL_NAMED.contains(&lower.as_str()) {
            return Err(self.refuse(format!(
                "`{}` is a mysql client command; a dump must not run client commands",
                shown(word)
            )));
        }
        Ok(false)
    }

    fn step(&mut self, bytes: &[u8], mut i: usize) -> Result<usize, Refusal> {
        let c = bytes[i];
        match &mut self.state {
            State::Normal => return self.normal(bytes, i),
            State::LineStart => match c {
                b' ' | b'\t' | b'\r' => {}
                b'\n' => self.newline(),
                c if c.is_ascii_alphabetic() || c == b'?' => {
                    self.token_line = self.at.line;
                    self.hold = 1;
                    self.state = State::Word { word: vec![c] };
                }
                _ => {
                    self.state = State::Normal;
                    return Ok(i);
                }
            },
            State::Word { word } => {
                if c.is_ascii_alphabetic() && word.len() < 16 {
                    word.push(c);
                    self.hold += 1;
                    return Ok(i + 1);
                }
                let word = std::mem::take(word);
                self.hold = 0;
                let is_command = matches!(c, b' ' | b'\t' | b'\r' | b'\n') || c == self.delimiter.0;
                if is_command && self.named(&word)? {
                    self.state = State::Delimiter { arg: Vec::new() };
                    return Ok(i);
                }
                // SQL after all (`INSERT`, `CREATE`, `use x;`): the word is plain text.
                self.statement_empty = false;
                self.delimiter_seen = 0;
                self.state = State::Normal;
                return Ok(i);
            }
            State::Delimiter { arg } => {
                if c != b'\n' {
                    if arg.len() >= 64 {
                        return Err(self.refuse("a DELIMITER line too long to follow".into()));
                    }
                    arg.push(c);
                    return Ok(i + 1);
                }
                let text = String::from_utf8_lossy(arg).trim().to_string();
                let new = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .as_bytes()
                    .to_vec();
                let first = new.first().copied().unwrap_or(0);
                let ok = !new.is_empty()
                    && new.len() <= 4
                    && new.iter().all(|&b| b == first)
                    && b";$|/@%&~^!".contains(&first);
                if !ok {
                    return Err(self.refuse(format!(
                        "DELIMITER `{text}`: the check follows delimiters of one to four of ; $ | / @ % & ~ ^ ! (mysqldump uses ;;)"
                    )));
                }
                self.delimiter = (first, new.len());
                self.delimiter_seen = 0;
                self.newline();
                return Ok(i + 1);
            }
            State::Quote { q } => {
                let q = *q;
                let escapes = self.escapes.within(q);
                let found = if escapes {
                    memchr3(q, b'\\', b'\n', &bytes[i..])
                } else {
                    memchr2(q, b'\n', &bytes[i..])
                };
                let Some(off) = found else {
                    return Ok(bytes.len());
                };
                i += off;
                match bytes[i] {
                    b'\n' => self.at.line += 1,
                    b'\\' => self.state = State::QuoteEscape { q },
                    _ => self.state = State::Normal,
                }
            }
            State::QuoteEscape { q } => {
                if c == b'\n' {
                    self.at.line += 1;
                }
                let q = *q;
                self.state = State::Quote { q };
            }
            State::Dash => {
                if c == b'-' {
                    self.state = State::DashDash;
                } else {
                    self.sql(b'-');
                    self.state = State::Normal;
                    return Ok(i);
                }
            }
            State::DashDash => {
                if c.is_ascii_whitespace() || c < 0x20 {
                    self.state = State::LineComment;
                    return Ok(i); // a newline ends it at once
                }
                self.sql(b'-');
                self.state = State::Normal;
                return Ok(i);
            }
            State::LineComment => {
                let Some(off) = memchr(b'\n', &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                self.delimiter_seen = 0;
                self.newline();
                return Ok(i + off + 1);
            }
            State::Slash => {
                if c == b'*' {
                    self.state = State::SlashStar;
                } else {
                    self.sql(b'/');
                    self.state = State::Normal;
                    return Ok(i);
                }
            }
            State::SlashStar => match c {
                // `/*!` and `/*M!`: SQL for servers of a version, commands included.
                b'!' => {
                    self.sql(b'!');
                    self.state = State::Normal;
                }
                b'M' => self.state = State::SlashStarM,
                _ => {
                    self.state = State::Block;
                    return Ok(i);
                }
            },
            State::SlashStarM => {
                if c == b'!' {
                    self.sql(b'!');
                    self.state = State::Normal;
                } else {
                    self.state = State::Block;
                    return Ok(i);
                }
            }
            State::Block => {
                let Some(off) = memchr2(b'*', b'\n', &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                i += off;
                if bytes[i] == b'\n' {
                    self.at.line += 1;
                } else {
                    self.state = State::BlockStar;
                }
            }
            State::BlockStar => match c {
                b'/' => self.state = State::Normal,
                b'*' => {}
                _ => {
                    self.state = State::Block;
                    return Ok(i);
                }
            },
            State::Backslash => {
                self.hold = 0;
                self.state = State::Normal;
                match c {
                    // NULL, and MariaDB's sandbox mode (it only takes rights away).
                    b'N' | b'-' => self.sql(c),
                    // A backslash at the end of a line is dropped by the client.
                    b'\n' => return Ok(i),
                    _ => {
                        if self.strictness == Strictness::Every || HARMFUL_CHARS.contains(&c) {
                            return Err(self.refuse(format!(
                                "`\\{}` is a mysql client command; a dump must not run client commands",
                                shown(&[c])
                            )));
                        }
                        if TAKE_ARGS.contains(&c) {
                            self.state = State::Args;
                        }
                    }
                }
            }
            State::Args => {
                let Some(off) = memchr2(b'\n', self.delimiter.0, &bytes[i..]) else {
                    return Ok(bytes.len());
                };
                self.state = State::Normal;
                return Ok(i + off);
            }
        }
        Ok(i + 1)
    }
}

/// Bytes that end a run of plain SQL in [`Mysql::normal`].
static PLAIN_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let stops = b"\n'\"`\\#-/";
    let mut k = 0;
    while k < stops.len() {
        t[stops[k] as usize] = true;
        k += 1;
    }
    t
};

impl View for Mysql {
    fn feed(&mut self, bytes: &[u8]) -> Result<usize, Refusal> {
        let mut i = 0;
        while i < bytes.len() {
            i = self.step(bytes, i)?;
        }
        if self.hold > MAX_HOLD {
            return Err(self.refuse("a token too long to check".into()));
        }
        Ok(self.hold)
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        if let State::Word { word } = &self.state {
            let word = word.clone();
            self.named(&word)?;
        }
        Ok(())
    }
}
