//! When to retry a failed delivery (qstash-api.md §9.1–§9.3).
//!
//! Three inputs decide the wait before the next attempt, strongest first:
//! 1. a rate-limit signal in the destination's response ([`retry_after`]),
//! 2. the message's own `Upstash-Retry-Delay` expression ([`RetryDelayExpr`]),
//! 3. QStash's default exponential backoff ([`default_backoff`]).
//!
//! A 489 response with `Upstash-NonRetryable-Error: true` ([`is_non_retryable`]) skips all of
//! them and fails the message at once.
//!
//! Everything here is pure (the clock is a parameter) and total: no input, however hostile,
//! makes these functions panic, because they run on the delivery path, where one bad
//! message must not take the worker down.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::duration::{clip, column, parse_duration, parse_go_duration, DurationError};

/// The longest wait between two attempts: QStash caps both the default backoff and rate-limit
/// signals at one day (§9.1, §9.3), and we apply the same cap to retry-delay expressions.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(86_400);

/// Longest accepted `Upstash-Retry-Delay` expression, in bytes after trimming. Real
/// expressions are a few dozen bytes; the limit bounds parse time and memory per message.
pub const MAX_EXPR_LEN: usize = 1024;

/// Deepest accepted nesting of parentheses, function calls and unary minus. The parser
/// recurses once per level, so this bounds its stack use on hostile input such as
/// `((((…` or `----…1`.
pub const MAX_EXPR_DEPTH: usize = 64;

/// Default backoff before the next attempt (§9.1): `min(86400, e^(2.5·n))` seconds with
/// `n = retried + 1`, where `retried` is the number of retries already made (0 after the
/// first failed attempt, giving 12.18 s; then 2 m 28 s, 30 m 8 s, 6 h 7 m 6 s, and 24 h from
/// the fifth retry on).
///
/// The exponent is 2.5, not the 2 that older QStash pages state, because the documented
/// table only matches 2.5 (§12 item 6).
///
/// `scale` multiplies the result so that a developer can watch retries happen in seconds
/// instead of hours; 1.0 is QStash's behaviour. A NaN, infinite or negative `scale` is a
/// misconfiguration and is treated as 1.0 rather than, say, retrying in a tight loop. The
/// scaled result is still capped at [`MAX_RETRY_DELAY`], the longest wait QStash ever uses.
pub fn default_backoff(retried: u32, scale: f64) -> Duration {
    let n = f64::from(retried) + 1.0;
    let base = (2.5 * n).exp().min(MAX_RETRY_DELAY.as_secs_f64());
    let scale = if scale.is_finite() && scale >= 0.0 {
        scale
    } else {
        1.0
    };
    clamp_secs(base * scale)
}

/// Converts seconds to a [`Duration`] in `[0, MAX_RETRY_DELAY]`, mapping NaN and anything
/// not positive (including `-0.0`) to zero; `Duration::from_secs_f64` would panic on those.
fn clamp_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else if secs >= MAX_RETRY_DELAY.as_secs_f64() {
        MAX_RETRY_DELAY
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_DELAY)
    }
}

/// Why an `Upstash-Retry-Delay` expression was rejected.
///
/// The message goes back to the client in a 400 response, so it is one line and, where a
/// place in the expression is to blame, gives its 1-based character position in the
/// trimmed expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryExprError {
    /// Nothing but whitespace.
    #[error("empty expression")]
    Empty,
    /// Longer than [`MAX_EXPR_LEN`] bytes.
    #[error("expression too long: {len} bytes (the limit is {max})")]
    TooLong { len: usize, max: usize },
    /// Nested deeper than [`MAX_EXPR_DEPTH`]; `pos` is where the first level too many opens.
    #[error("expression nested too deeply at {pos} (the limit is {max} levels)")]
    TooDeep { pos: usize, max: usize },
    /// A character that starts no token (`^`, `%`, `#`, non-ASCII letters, …).
    #[error("unexpected character {ch:?} at {pos}")]
    UnexpectedChar { ch: char, pos: usize },
    /// Digits and dots that do not form one decimal number (`1.2.3`, `.`).
    #[error("invalid number {text:?} at {pos}")]
    InvalidNumber { text: String, pos: usize },
    /// A token where something else was needed, e.g. `expected a value, found ")" at 5`.
    #[error("expected {expected}, found {found:?} at {pos}")]
    UnexpectedToken {
        found: String,
        expected: &'static str,
        pos: usize,
    },
    /// The expression stops where more was needed (`1 +`, `pow(2, 3`).
    #[error("unexpected end of expression, expected {expected}")]
    UnexpectedEnd { expected: &'static str },
    /// A call to a function that is not one of the nine QStash documents (§9.2).
    #[error(
        "unknown function {name:?} at {pos} \
         (known functions: pow, exp, sqrt, abs, floor, ceil, round, min, max)"
    )]
    UnknownFunction { name: String, pos: usize },
    /// A name other than `retried` used as a value.
    #[error("unknown variable {name:?} at {pos} (only \"retried\" is allowed)")]
    UnknownVariable { name: String, pos: usize },
    /// A known function called with the wrong number of arguments.
    #[error("function {name:?} at {pos} takes {}, got {found}", count(*.expected, "argument"))]
    WrongArity {
        name: &'static str,
        expected: usize,
        found: usize,
        pos: usize,
    },
    /// A known function named without a call (`sqrt + 1`).
    #[error("function {name:?} at {pos} must be called with arguments in parentheses")]
    NotCalled { name: &'static str, pos: usize },
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A parsed `Upstash-Retry-Delay` expression (§9.2), such as `1000 * (1 + retried)` or
/// `min(pow(2, retried) * 1000, 60000)`.
///
/// It is parsed when the message or schedule is created, so that a bad expression is a 400
/// up front rather than a surprise after the first failed attempt, and evaluated after each
/// failed attempt. The original text is kept because the API echoes it back as
/// `retryDelayExpression` (§9.2).
///
/// Grammar: decimal numbers, the variable `retried`, binary `+ - * /` with the usual
/// precedence and left associativity, unary minus (binding tighter than `*`), parentheses,
/// and the functions `pow(x,y) exp(x) sqrt(x) abs(x) floor(x) ceil(x) round(x) min(x,y)
/// max(x,y)`, whose arity is checked while parsing. Whitespace may appear between tokens.
/// Names are case-sensitive. Arithmetic is IEEE `f64`; `round` rounds halves away from
/// zero, as Go's `math.Round` does.
///
/// Internally the expression is compiled to a postfix program, so evaluation is a loop over
/// a small stack: no recursion at evaluation time and no recursive drop.
#[derive(Debug, Clone)]
pub struct RetryDelayExpr {
    source: String,
    program: Vec<Instr>,
}

#[derive(Debug, Clone, Copy)]
enum Instr {
    Const(f64),
    Retried,
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    Call(Func),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Pow,
    Exp,
    Sqrt,
    Abs,
    Floor,
    Ceil,
    Round,
    Min,
    Max,
}

impl Func {
    const ALL: [Func; 9] = [
        Func::Pow,
        Func::Exp,
        Func::Sqrt,
        Func::Abs,
        Func::Floor,
        Func::Ceil,
        Func::Round,
        Func::Min,
        Func::Max,
    ];

    fn name(self) -> &'static str {
        match self {
            Func::Pow => "pow",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Round => "round",
            Func::Min => "min",
            Func::Max => "max",
        }
    }

    fn arity(self) -> usize {
        match self {
            Func::Pow | Func::Min | Func::Max => 2,
            _ => 1,
        }
    }

    fn lookup(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// `y` is ignored by one-argument functions.
    fn apply(self, x: f64, y: f64) -> f64 {
        match self {
            Func::Pow => x.powf(y),
            Func::Exp => x.exp(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
            Func::Floor => x.floor(),
            Func::Ceil => x.ceil(),
            Func::Round => x.round(),
            Func::Min => x.min(y),
            Func::Max => x.max(y),
        }
    }
}

impl RetryDelayExpr {
    /// Parses and validates an expression; surrounding whitespace is ignored.
    pub fn parse(src: &str) -> Result<Self, RetryExprError> {
        let source = src.trim();
        if source.is_empty() {
            return Err(RetryExprError::Empty);
        }
        if source.len() > MAX_EXPR_LEN {
            return Err(RetryExprError::TooLong {
                len: source.len(),
                max: MAX_EXPR_LEN,
            });
        }
        let mut parser = Parser {
            src: source,
            tokens: lex(source)?,
            next: 0,
            program: Vec::new(),
        };
        parser.expr(0, 0)?;
        let trailing = parser.bump();
        if trailing.kind != Kind::End {
            return Err(parser.unexpected(trailing, "an operator or the end of the expression"));
        }
        Ok(RetryDelayExpr {
            source: source.to_owned(),
            program: parser.program,
        })
    }

    /// The expression as given, minus surrounding whitespace; this is what the API echoes
    /// back as `retryDelayExpression`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Delay in milliseconds before the next attempt; `retried` = retries already made
    /// (0 for the first retry's delay).
    ///
    /// The value is truncated to whole milliseconds and clamped to `[0, 86_400_000]` ms
    /// ([`MAX_RETRY_DELAY`]): negative results and NaN (`0/0`, `sqrt(-1)`) mean "retry
    /// now", +∞ (`1/0`) and anything above a day mean one day. Zero rather than a fallback
    /// for NaN keeps the rule simple and predictable, and is harmless because the number of
    /// attempts is bounded by `Upstash-Retries` anyway.
    pub fn delay(&self, retried: u32) -> Duration {
        let ms = self.eval(retried);
        if ms.is_nan() || ms <= 0.0 {
            Duration::ZERO
        } else if ms >= MAX_RETRY_DELAY.as_millis() as f64 {
            MAX_RETRY_DELAY
        } else {
            // In (0, 86_400_000), so the cast only truncates the fraction.
            Duration::from_millis(ms as u64)
        }
    }

    /// The raw value of the expression, before clamping.
    fn eval(&self, retried: u32) -> f64 {
        let mut stack: Vec<f64> = Vec::with_capacity(self.program.len());
        // The parser only emits well-formed programs, so the stack never underflows; NaN
        // instead of a panic keeps that an internal invariant rather than a crash risk.
        fn pop(stack: &mut Vec<f64>) -> f64 {
            stack.pop().unwrap_or(f64::NAN)
        }
        for instr in &self.program {
            let value = match *instr {
                Instr::Const(v) => v,
                Instr::Retried => f64::from(retried),
                Instr::Neg => -pop(&mut stack),
                Instr::Add | Instr::Sub | Instr::Mul | Instr::Div => {
                    let b = pop(&mut stack);
                    let a = pop(&mut stack);
                    match instr {
                        Instr::Add => a + b,
                        Instr::Sub => a - b,
                        Instr::Mul => a * b,
                        _ => a / b,
                    }
                }
                Instr::Call(f) => {
                    let y = if f.arity() == 2 {
                        pop(&mut stack)
                    } else {
                        f64::NAN
                    };
                    let x = pop(&mut stack);
                    f.apply(x, y)
                }
            };
            stack.push(value);
        }
        pop(&mut stack)
    }
}

impl fmt::Display for RetryDelayExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for RetryDelayExpr {
    type Err = RetryExprError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RetryDelayExpr::parse(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Number(f64),
    Ident,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    Comma,
    End,
}

/// A token and its byte span in the source.
#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

fn lex(src: &str) -> Result<Vec<Token>, RetryExprError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        let start = i;
        i += c.len_utf8();
        let kind = match c {
            c if c.is_whitespace() => continue,
            '+' => Kind::Plus,
            '-' => Kind::Minus,
            '*' => Kind::Star,
            '/' => Kind::Slash,
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            ',' => Kind::Comma,
            '0'..='9' | '.' => {
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                let text = &src[start..i];
                // Rust's float syntax is wider than ours (`inf`, exponents), but those cannot
                // reach here: the slice holds only digits and dots.
                match text.parse::<f64>() {
                    Ok(v) if text.matches('.').count() <= 1 => Kind::Number(v),
                    _ => {
                        return Err(RetryExprError::InvalidNumber {
                            text: clip(text, 32),
                            pos: column(src, start),
                        })
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Ident
            }
            ch => {
                return Err(RetryExprError::UnexpectedChar {
                    ch,
                    pos: column(src, start),
                })
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens.push(Token {
        kind: Kind::End,
        start: src.len(),
        end: src.len(),
    });
    Ok(tokens)
}

/// Binding powers: higher binds tighter. Binary operators parse their right operand at one
/// more than their own power, which makes them left-associative.
const ADDITIVE: u8 = 1;
const MULTIPLICATIVE: u8 = 2;
const UNARY: u8 = 3;

/// A Pratt parser that emits postfix code as it goes.
struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    next: usize,
    program: Vec<Instr>,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens.get(self.next).copied().unwrap_or(Token {
            kind: Kind::End,
            start: self.src.len(),
            end: self.src.len(),
        })
    }

    fn bump(&mut self) -> Token {
        let token = self.peek();
        if token.kind != Kind::End {
            self.next += 1;
        }
        token
    }

    fn text(&self, token: Token) -> &str {
        self.src.get(token.start..token.end).unwrap_or("")
    }

    fn pos(&self, token: Token) -> usize {
        column(self.src, token.start)
    }

    fn unexpected(&self, token: Token, expected: &'static str) -> RetryExprError {
        if token.kind == Kind::End {
            RetryExprError::UnexpectedEnd { expected }
        } else {
            RetryExprError::UnexpectedToken {
                found: clip(self.text(token), 32),
                expected,
                pos: self.pos(token),
            }
        }
    }

    /// One more level of nesting, opened by `token`.
    fn enter(&self, depth: usize, token: Token) -> Result<usize, RetryExprError> {
        if depth >= MAX_EXPR_DEPTH {
            return Err(RetryExprError::TooDeep {
                pos: self.pos(token),
                max: MAX_EXPR_DEPTH,
            });
        }
        Ok(depth + 1)
    }

    /// Parses an expression whose operators all bind at least as tightly as `min_power`.
    fn expr(&mut self, min_power: u8, depth: usize) -> Result<(), RetryExprError> {
        self.operand(depth)?;
        loop {
            let (instr, power) = match self.peek().kind {
                Kind::Plus => (Instr::Add, ADDITIVE),
                Kind::Minus => (Instr::Sub, ADDITIVE),
                Kind::Star => (Instr::Mul, MULTIPLICATIVE),
                Kind::Slash => (Instr::Div, MULTIPLICATIVE),
                _ => return Ok(()),
            };
            if power < min_power {
                return Ok(());
            }
            self.bump();
            self.expr(power + 1, depth)?;
            self.program.push(instr);
        }
    }

    /// A number, `retried`, a call, a parenthesised expression or a negation.
    fn operand(&mut self, depth: usize) -> Result<(), RetryExprError> {
        const VALUE: &str = "a value";
        let token = self.bump();
        match token.kind {
            Kind::Number(v) => self.program.push(Instr::Const(v)),
            Kind::Minus => {
                let depth = self.enter(depth, token)?;
                self.expr(UNARY, depth)?;
                self.program.push(Instr::Neg);
            }
            Kind::LParen => {
                let depth = self.enter(depth, token)?;
                self.expr(0, depth)?;
                let close = self.bump();
                if close.kind != Kind::RParen {
                    return Err(self.unexpected(close, "\")\""));
                }
            }
            Kind::Ident => {
                let name = self.text(token);
                let func = Func::lookup(name);
                if self.peek().kind == Kind::LParen {
                    let Some(func) = func else {
                        return Err(RetryExprError::UnknownFunction {
                            name: clip(name, 32),
                            pos: self.pos(token),
                        });
                    };
                    self.call(func, token, depth)?;
                } else if name == "retried" {
                    self.program.push(Instr::Retried);
                } else if let Some(func) = func {
                    return Err(RetryExprError::NotCalled {
                        name: func.name(),
                        pos: self.pos(token),
                    });
                } else {
                    return Err(RetryExprError::UnknownVariable {
                        name: clip(name, 32),
                        pos: self.pos(token),
                    });
                }
            }
            _ => return Err(self.unexpected(token, VALUE)),
        }
        Ok(())
    }

    /// The argument list of `func`, whose name is `name_token`; the next token is `(`.
    fn call(&mut self, func: Func, name_token: Token, depth: usize) -> Result<(), RetryExprError> {
        let depth = self.enter(depth, name_token)?;
        self.bump(); // `(`
        let mut args = 0;
        if self.peek().kind == Kind::RParen {
            self.bump();
        } else {
            loop {
                self.expr(0, depth)?;
                args += 1;
                let separator = self.bump();
                match separator.kind {
                    Kind::Comma => continue,
                    Kind::RParen => break,
                    _ => return Err(self.unexpected(separator, "\",\" or \")\"")),
                }
            }
        }
        if args != func.arity() {
            return Err(RetryExprError::WrongArity {
                name: func.name(),
                expected: func.arity(),
                found: args,
                pos: self.pos(name_token),
            });
        }
        self.program.push(Instr::Call(func));
        Ok(())
    }
}

/// Response headers that can set the next retry time (§9.3), in order of precedence.
const RETRY_SIGNAL_HEADERS: [&str; 4] = [
    "retry-after",
    "x-ratelimit-reset",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
];

/// How a destination asked us to wait, from the headers of a failed response (§9.3).
///
/// Looks at `Retry-After`, `X-RateLimit-Reset`, `X-RateLimit-Reset-Requests` and
/// `X-RateLimit-Reset-Tokens` in that order; the first value that parses wins. A value may be:
/// - seconds, integer or decimal (`120`, `1.5`; `0` means retry immediately);
/// - an RFC 1123 / RFC 2822 date (`Wed, 21 Oct 2015 07:28:00 GMT`); the wait is the time
///   until then, or zero if it has passed;
/// - a Go-style duration (`6m5s`, `1.5h`).
///
/// Returns `None` when no header is present or none parses, so the caller falls back to
/// the expression or default backoff. It also returns `None` when the winning value asks for
/// more than one day ([`MAX_RETRY_DELAY`]): QStash then applies the default backoff rather
/// than the cap, and it does not look at the remaining headers, since the destination
/// has already said what it wants. This also covers APIs that put a Unix timestamp in
/// `X-RateLimit-Reset`: read as seconds, it is decades away, so the default backoff applies.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in RETRY_SIGNAL_HEADERS {
        for value in headers.get_all(name) {
            match read_signal(value.as_bytes(), now) {
                Signal::Wait(wait) => return Some(wait),
                Signal::TooLong => return None,
                Signal::Unreadable => {}
            }
        }
    }
    None
}

enum Signal {
    Wait(Duration),
    TooLong,
    Unreadable,
}

fn read_signal(value: &[u8], now: SystemTime) -> Signal {
    let Ok(text) = std::str::from_utf8(value) else {
        return Signal::Unreadable;
    };
    let text = text.trim();
    let is_seconds = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let parsed = if is_seconds {
        // A bare Upstash-style duration is exactly "decimal seconds".
        parse_duration(text)
    } else if let Ok(date) = chrono::DateTime::parse_from_rfc2822(text) {
        return until(date.timestamp(), date.timestamp_subsec_nanos(), now);
    } else {
        parse_go_duration(text)
    };
    match parsed {
        Ok(wait) if wait > MAX_RETRY_DELAY => Signal::TooLong,
        Ok(wait) => Signal::Wait(wait),
        Err(DurationError::Overflow { .. }) => Signal::TooLong,
        Err(_) => Signal::Unreadable,
    }
}

/// The wait from `now` until a Unix time, computed in `i128` nanoseconds because chrono's
/// `From<SystemTime>` panics for times outside its range.
fn until(secs: i64, nanos: u32, now: SystemTime) -> Signal {
    const NANOS_PER_SEC: i128 = 1_000_000_000;
    let target = i128::from(secs) * NANOS_PER_SEC + i128::from(nanos);
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    let wait = target.saturating_sub(now);
    if wait <= 0 {
        Signal::Wait(Duration::ZERO)
    } else if wait > MAX_RETRY_DELAY.as_nanos() as i128 {
        Signal::TooLong
    } else {
        Signal::Wait(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        ))
    }
}

/// True when the destination declared the failure permanent (§9.3): status 489 *and*
/// `Upstash-NonRetryable-Error: true` (value compared case-insensitively, ignoring
/// surrounding whitespace). Both are required so that an unrelated 489, or the header on
/// an ordinary error, keeps the normal retry behaviour.
pub fn is_non_retryable(status: u16, headers: &HeaderMap) -> bool {
    status == 489
        && headers
            .get_all("upstash-nonretryable-error")
            .iter()
            .any(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"true"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    /// Whole seconds (truncated) in the style of the §9.1 table: `6 h 7 m 6 s`, `24 h`.
    fn human(d: Duration) -> String {
        let s = d.as_secs();
        let parts = [(s / 3600, "h"), (s / 60 % 60, "m"), (s % 60, "s")];
        let text: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, unit)| format!("{n} {unit}"))
            .collect();
        if text.is_empty() {
            "0 s".to_owned()
        } else {
            text.join(" ")
        }
    }

    fn expr(src: &str) -> RetryDelayExpr {
        RetryDelayExpr::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
    }

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    // ---- default backoff (§9.1) -------------------------------------------------------

    #[test]
    fn default_backoff_follows_the_documented_table() {
        // (retries already made, wait before the next attempt); n = retried + 1.
        let table: &[(u32, &str)] = &[
            (0, "12 s"),
            (1, "2 m 28 s"),
            (2, "30 m 8 s"),
            (3, "6 h 7 m 6 s"),
            (4, "24 h"),
            (5, "24 h"),
            (1_000, "24 h"),
            (u32::MAX, "24 h"),
        ];
        for (retried, want) in table {
            assert_eq!(
                human(default_backoff(*retried, 1.0)),
                *want,
                "retried = {retried}"
            );
        }
        assert_eq!(
            default_backoff(0, 1.0).as_millis(),
            12_182,
            "e^2.5 s, to the millisecond"
        );
    }

    #[test]
    fn default_backoff_scale() {
        // (retried, scale, expected wait)
        let table: &[(u32, f64, Duration)] = &[
            (0, 1.0, ms(12_182)),
            (0, 0.001, ms(12)),
            (1, 0.01, ms(1_484)),
            (0, 0.0, Duration::ZERO),
            (3, 0.0, Duration::ZERO),
            // Scaling up is allowed but never beyond the one-day cap.
            (0, 2.0, ms(24_364)),
            (3, 10.0, MAX_RETRY_DELAY),
            (3, f64::MAX, MAX_RETRY_DELAY),
            // Nonsense scales fall back to QStash's own timing.
            (0, f64::NAN, ms(12_182)),
            (0, f64::INFINITY, ms(12_182)),
            (0, f64::NEG_INFINITY, ms(12_182)),
            (0, -1.0, ms(12_182)),
            (0, -0.0, Duration::ZERO),
            (0, f64::MIN_POSITIVE, Duration::ZERO),
        ];
        for (retried, scale, want) in table {
            let got = default_backoff(*retried, *scale);
            assert_eq!(
                got.as_millis(),
                want.as_millis(),
                "retried = {retried}, scale = {scale}"
            );
        }
    }

    #[test]
    fn default_backoff_never_shrinks_as_retries_grow() {
        let mut previous = Duration::ZERO;
        for retried in 0..64 {
            let wait = default_backoff(retried, 1.0);
            assert!(
                wait >= previous && wait <= MAX_RETRY_DELAY,
                "retried = {retried}"
            );
            previous = wait;
        }
    }

    // ---- Upstash-Retry-Delay expressions (§9.2) ---------------------------------------

    #[test]
    fn documented_expressions() {
        // (expression, delays for retried = 0, 1, 2, ...)
        let table: &[(&str, &[Duration])] = &[
            ("1000 * (1 + retried)", &[ms(1_000), ms(2_000), ms(3_000)]),
            (
                "pow(2, retried) * 1000",
                &[ms(1_000), ms(2_000), ms(4_000), ms(8_000), ms(16_000)],
            ),
            ("5000", &[ms(5_000), ms(5_000), ms(5_000)]),
            ("retried * 1000", &[Duration::ZERO, ms(1_000), ms(2_000)]),
            (
                "min(pow(2, retried) * 1000, 3000)",
                &[ms(1_000), ms(2_000), ms(3_000), ms(3_000)],
            ),
            (
                "max(1000, retried * 500)",
                &[ms(1_000), ms(1_000), ms(1_000), ms(1_500)],
            ),
        ];
        for (src, delays) in table {
            let e = expr(src);
            for (retried, want) in delays.iter().enumerate() {
                assert_eq!(
                    e.delay(retried as u32),
                    *want,
                    "{src} with retried = {retried}"
                );
            }
        }
    }

    #[test]
    fn default_backoff_written_as_an_expression_agrees() {
        let e = expr("exp(2.5 * (retried + 1)) * 1000");
        for retried in 0..8 {
            let a = e.delay(retried).as_millis();
            let b = default_backoff(retried, 1.0).as_millis();
            assert!(a.abs_diff(b) <= 1, "retried = {retried}: {a} vs {b}");
        }
    }

    #[test]
    fn precedence_and_associativity() {
        // (expression, raw value with retried = 3)
        let table: &[(&str, f64)] = &[
            ("1 + 2 * 3", 7.0),
            ("(1 + 2) * 3", 9.0),
            ("2 * 3 + 1", 7.0),
            ("10 - 4 - 3", 3.0),
            ("10 - (4 - 3)", 9.0),
            ("100 / 10 / 2", 5.0),
            ("8 / 4 * 2", 4.0),
            ("2 - 3 + 4", 3.0),
            ("1 + 6 / 2 - 1", 3.0),
            ("-2 * 3", -6.0),
            ("2 * -3", -6.0),
            ("-2 + 3", 1.0),
            ("--4", 4.0),
            ("1 - -1", 2.0),
            ("-(2 + 3)", -5.0),
            ("-retried", -3.0),
            ("-pow(2, 2)", -4.0),
            ("1000 * retried + 1", 3001.0),
            ("((((retried))))", 3.0),
            ("pow(2, 1 + 2) * 10", 80.0),
            ("min(1, 2) + max(1, 2) * 2", 5.0),
            // Whitespace anywhere, or nowhere.
            ("1+2*3", 7.0),
            ("  1 +\t2 *\n3 ", 7.0),
            ("pow ( 2 , 3 )", 8.0),
            // Decimals.
            ("1.5 * 2", 3.0),
            (".5 + 1.", 1.5),
        ];
        for (src, want) in table {
            assert_eq!(expr(src).eval(3), *want, "{src}");
        }
    }

    #[test]
    fn functions() {
        // (expression, raw value with retried = 0)
        let table: &[(&str, f64)] = &[
            ("pow(2, 10)", 1024.0),
            ("pow(4, 0.5)", 2.0),
            ("exp(0)", 1.0),
            ("sqrt(16)", 4.0),
            ("abs(-5)", 5.0),
            ("abs(5)", 5.0),
            ("floor(1.7)", 1.0),
            ("floor(-1.2)", -2.0),
            ("ceil(1.2)", 2.0),
            ("ceil(-1.7)", -1.0),
            ("round(2.4)", 2.0),
            ("round(2.5)", 3.0),
            ("round(-2.5)", -3.0),
            ("min(3, 4)", 3.0),
            ("max(3, 4)", 4.0),
            ("max(1000, min(pow(2, retried) * 1000, 60000))", 1000.0),
        ];
        for (src, want) in table {
            assert_eq!(expr(src).eval(0), *want, "{src}");
        }
        assert_eq!(expr("exp(1)").eval(0), std::f64::consts::E);
    }

    #[test]
    fn delays_are_clamped_to_zero_and_one_day() {
        let day = MAX_RETRY_DELAY;
        let table: &[(&str, Duration)] = &[
            ("-1000", Duration::ZERO),
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0.9", Duration::ZERO),
            ("1500.9", ms(1_500)),
            ("86400000", day),
            ("86399999.5", ms(86_399_999)),
            ("86400001", day),
            ("99999999999999999999", day),
            ("exp(1000)", day),
            ("1 / 0", day),
            ("-1 / 0", Duration::ZERO),
            ("0 / 0", Duration::ZERO),
            ("sqrt(-1)", Duration::ZERO),
            ("exp(1000) - exp(1000)", Duration::ZERO),
        ];
        for (src, want) in table {
            assert_eq!(expr(src).delay(0), *want, "{src}");
        }
        assert_eq!(expr("retried * 1000").delay(u32::MAX), day);
    }

    #[test]
    fn source_is_kept_trimmed() {
        let e = expr("  1000 * (1 + retried)\n");
        assert_eq!(e.source(), "1000 * (1 + retried)");
        assert_eq!(e.to_string(), "1000 * (1 + retried)");
        let parsed: RetryDelayExpr = " 5 ".parse().unwrap();
        assert_eq!(parsed.source(), "5");
    }

    #[test]
    fn every_error() {
        // `{known}` stands for the list of functions, derived from the function table so the
        // message cannot drift from what the parser accepts.
        #[rustfmt::skip]
        let table: &[(&str, &str)] = &[
            // (expression, message)
            ("",               "empty expression"),
            (" \t\n",          "empty expression"),
            ("1 +",            "unexpected end of expression, expected a value"),
            ("-",              "unexpected end of expression, expected a value"),
            ("pow(",           "unexpected end of expression, expected a value"),
            ("(1 + 2",         r#"unexpected end of expression, expected ")""#),
            ("pow(2, 3",       r#"unexpected end of expression, expected "," or ")""#),
            ("foo(1)",         r#"unknown function "foo" at 1 {known}"#),
            ("1 + POW(2, 3)",  r#"unknown function "POW" at 5 {known}"#),
            ("retried(1)",     r#"unknown function "retried" at 1 {known}"#),
            ("x",              r#"unknown variable "x" at 1 (only "retried" is allowed)"#),
            ("1000 * retries", r#"unknown variable "retries" at 8 (only "retried" is allowed)"#),
            ("Retried",        r#"unknown variable "Retried" at 1 (only "retried" is allowed)"#),
            ("sqrt + 1",       r#"function "sqrt" at 1 must be called with arguments in parentheses"#),
            ("pow(2)",         r#"function "pow" at 1 takes 2 arguments, got 1"#),
            ("pow(1, 2, 3)",   r#"function "pow" at 1 takes 2 arguments, got 3"#),
            ("min(1)",         r#"function "min" at 1 takes 2 arguments, got 1"#),
            ("1 + exp()",      r#"function "exp" at 5 takes 1 argument, got 0"#),
            ("sqrt(1, 2)",     r#"function "sqrt" at 1 takes 1 argument, got 2"#),
            ("1 2",            r#"expected an operator or the end of the expression, found "2" at 3"#),
            ("(1))",           r#"expected an operator or the end of the expression, found ")" at 4"#),
            ("2 retried",      r#"expected an operator or the end of the expression, found "retried" at 3"#),
            ("1e3",            r#"expected an operator or the end of the expression, found "e3" at 2"#),
            ("()",             r#"expected a value, found ")" at 2"#),
            ("1 * * 2",        r#"expected a value, found "*" at 5"#),
            ("pow(1,)",        r#"expected a value, found ")" at 7"#),
            ("+1",             r#"expected a value, found "+" at 1"#),
            ("pow(1 2)",       r#"expected "," or ")", found "2" at 7"#),
            ("(1, 2)",         r#"expected ")", found "," at 3"#),
            ("2 ^ 3",          "unexpected character '^' at 3"),
            ("10 % 3",         "unexpected character '%' at 4"),
            ("1 + é",          "unexpected character 'é' at 5"),
            ("é + #",          "unexpected character 'é' at 1"),
            ("1.2.3",          r#"invalid number "1.2.3" at 1"#),
            ("1 + .",          r#"invalid number "." at 5"#),
        ];
        let names: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
        let known = format!("(known functions: {})", names.join(", "));
        for (src, want) in table {
            match RetryDelayExpr::parse(src) {
                Err(e) => assert_eq!(e.to_string(), want.replace("{known}", &known), "{src:?}"),
                Ok(e) => panic!("{src:?} should not parse, got {e:?}"),
            }
        }
    }

    #[test]
    fn size_and_depth_limits() {
        let nested = |levels: usize, open: &str, close: &str| {
            format!("{}1{}", open.repeat(levels), close.repeat(levels))
        };
        let too_deep = RetryExprError::TooDeep {
            pos: MAX_EXPR_DEPTH + 1,
            max: MAX_EXPR_DEPTH,
        };
        // (expression, result)
        let table: Vec<(String, Result<f64, RetryExprError>)> = vec![
            (nested(MAX_EXPR_DEPTH, "(", ")"), Ok(1.0)),
            (nested(MAX_EXPR_DEPTH + 1, "(", ")"), Err(too_deep.clone())),
            (nested(MAX_EXPR_DEPTH, "-", ""), Ok(1.0)),
            (nested(MAX_EXPR_DEPTH + 1, "-", ""), Err(too_deep.clone())),
            (
                nested(MAX_EXPR_DEPTH + 1, "abs(", ")"),
                Err(RetryExprError::TooDeep {
                    pos: 4 * MAX_EXPR_DEPTH + 1,
                    max: MAX_EXPR_DEPTH,
                }),
            ),
            // Long flat chains are fine: depth counts nesting, not length.
            (
                format!("1{}", "+1".repeat((MAX_EXPR_LEN - 1) / 2)),
                Ok(512.0),
            ),
            (
                "1".repeat(MAX_EXPR_LEN + 1),
                Err(RetryExprError::TooLong {
                    len: MAX_EXPR_LEN + 1,
                    max: MAX_EXPR_LEN,
                }),
            ),
            // The length limit applies before anything else is looked at.
            (
                "(".repeat(100_000),
                Err(RetryExprError::TooLong {
                    len: 100_000,
                    max: MAX_EXPR_LEN,
                }),
            ),
            // Surrounding whitespace does not count.
            (
                format!("{}1{}", " ".repeat(5_000), " ".repeat(5_000)),
                Ok(1.0),
            ),
        ];
        for (src, want) in table {
            let got = RetryDelayExpr::parse(&src).map(|e| e.eval(0));
            assert_eq!(
                got,
                want,
                "{} bytes starting {:?}",
                src.len(),
                &src[..src.len().min(20)]
            );
        }
        assert_eq!(
            too_deep.to_string(),
            "expression nested too deeply at 65 (the limit is 64 levels)"
        );
        assert_eq!(
            RetryExprError::TooLong {
                len: 2000,
                max: 1024
            }
            .to_string(),
            "expression too long: 2000 bytes (the limit is 1024)"
        );
    }

    // ---- response signals (§9.3) -------------------------------------------------------

    /// 2015-10-21 07:28:00 UTC, the instant in MDN's Retry-After example.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    /// Header (name, value) pairs, in the order they arrive.
    type Headers<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Headers) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_signals() {
        let s = Duration::from_secs;
        let table: &[(Headers, Option<Duration>)] = &[
            // Nothing to go on.
            (&[], None),
            (&[("Content-Type", "text/plain")], None),
            // Each header, seconds form.
            (&[("Retry-After", "120")], Some(s(120))),
            (&[("X-RateLimit-Reset", "30")], Some(s(30))),
            (&[("X-RateLimit-Reset-Requests", "7")], Some(s(7))),
            (&[("X-RateLimit-Reset-Tokens", "9")], Some(s(9))),
            // `0` means immediately; decimals are fine.
            (&[("Retry-After", "0")], Some(Duration::ZERO)),
            (&[("Retry-After", "1.5")], Some(ms(1_500))),
            (&[("Retry-After", " 10 ")], Some(s(10))),
            // HTTP dates: the wait is the time until then, never negative.
            (
                &[("Retry-After", "Wed, 21 Oct 2015 07:30:00 GMT")],
                Some(s(120)),
            ),
            (
                &[("Retry-After", "Wed, 21 Oct 2015 09:30:00 +0200")],
                Some(s(120)),
            ),
            (&[("Retry-After", "21 Oct 2015 07:28:05 UT")], Some(s(5))),
            (
                &[("Retry-After", "Wed, 21 Oct 2015 07:00:00 GMT")],
                Some(Duration::ZERO),
            ),
            (
                &[("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT")],
                Some(Duration::ZERO),
            ),
            // Go-style durations.
            (&[("Retry-After", "6m5s")], Some(s(365))),
            (&[("X-RateLimit-Reset-Requests", "1.5s")], Some(ms(1_500))),
            (&[("X-RateLimit-Reset-Tokens", "6m0s")], Some(s(360))),
            (&[("X-RateLimit-Reset", "250ms")], Some(ms(250))),
            // Precedence: Retry-After, then -Reset, -Reset-Requests, -Reset-Tokens.
            (
                &[("X-RateLimit-Reset", "20"), ("Retry-After", "10")],
                Some(s(10)),
            ),
            (
                &[
                    ("X-RateLimit-Reset-Tokens", "40"),
                    ("X-RateLimit-Reset-Requests", "30"),
                ],
                Some(s(30)),
            ),
            (
                &[
                    ("X-RateLimit-Reset-Tokens", "40"),
                    ("X-RateLimit-Reset", "20"),
                ],
                Some(s(20)),
            ),
            // An unparseable value is skipped; the next one that parses wins.
            (
                &[("Retry-After", "soon"), ("X-RateLimit-Reset", "20")],
                Some(s(20)),
            ),
            (&[("Retry-After", "soon"), ("Retry-After", "3")], Some(s(3))),
            (
                &[("Retry-After", ""), ("X-RateLimit-Reset-Tokens", "1m")],
                Some(s(60)),
            ),
            (&[("Retry-After", "-5")], None),
            (&[("Retry-After", "1.2.3")], None),
            (&[("Retry-After", "1d")], None),
            (&[("Retry-After", "5")], Some(s(5))),
            // The one-day cap: exactly a day is honoured, more means default backoff…
            (&[("Retry-After", "86400")], Some(MAX_RETRY_DELAY)),
            (&[("Retry-After", "24h")], Some(MAX_RETRY_DELAY)),
            (&[("Retry-After", "86401")], None),
            (&[("Retry-After", "86400.001")], None),
            (&[("Retry-After", "24h0m1s")], None),
            (
                &[("Retry-After", "Thu, 22 Oct 2015 07:28:00 GMT")],
                Some(MAX_RETRY_DELAY),
            ),
            (&[("Retry-After", "Fri, 23 Oct 2015 07:28:00 GMT")], None),
            (&[("Retry-After", "99999999999999999999999999")], None),
            // …as for a Unix timestamp in X-RateLimit-Reset (the GitHub convention)…
            (&[("X-RateLimit-Reset", "1445412600")], None),
            // …and the oversized winner is not overridden by a later header.
            (
                &[("Retry-After", "90000"), ("X-RateLimit-Reset", "5")],
                None,
            ),
        ];
        for (pairs, want) in table {
            assert_eq!(retry_after(&headers(pairs), now()), *want, "{pairs:?}");
        }
    }

    #[test]
    fn retry_after_ignores_opaque_bytes_and_odd_clocks() {
        let mut map = HeaderMap::new();
        map.append("retry-after", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        map.append("retry-after", HeaderValue::from_static("4"));
        assert_eq!(retry_after(&map, now()), Some(Duration::from_secs(4)));

        // A clock before 1970 or at the far end of SystemTime must not panic.
        let date = headers(&[("Retry-After", "Wed, 21 Oct 2015 07:30:00 GMT")]);
        assert_eq!(
            retry_after(&date, UNIX_EPOCH - Duration::from_secs(1)),
            None
        );
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert_eq!(retry_after(&date, far), Some(Duration::ZERO));
    }

    #[test]
    fn non_retryable_errors() {
        // (status, Upstash-NonRetryable-Error value, fails at once?)
        let table: &[(u16, Option<&str>, bool)] = &[
            (489, Some("true"), true),
            (489, Some("TRUE"), true),
            (489, Some("True"), true),
            (489, Some(" true "), true),
            (489, Some("false"), false),
            (489, Some("1"), false),
            (489, Some("yes"), false),
            (489, Some(""), false),
            (489, None, false),
            (500, Some("true"), false),
            (429, Some("true"), false),
            (200, Some("true"), false),
        ];
        for (status, value, want) in table {
            let map = match value {
                Some(v) => headers(&[("Upstash-NonRetryable-Error", v)]),
                None => HeaderMap::new(),
            };
            assert_eq!(is_non_retryable(*status, &map), *want, "{status} {value:?}");
        }
    }

    // ---- properties --------------------------------------------------------------------

    /// Token soup: mostly-valid fragments glued together, to reach deep parser states that
    /// uniformly random strings rarely do.
    fn token_soup() -> impl Strategy<Value = String> {
        let tokens = vec![
            "1", "2.5", "0", "1000", ".5", "retried", "x", "+", "-", "*", "/", "(", ")", ",", " ",
            "pow", "exp", "sqrt", "abs", "floor", "ceil", "round", "min", "max", "1.2.3", "^", "é",
        ];
        prop::collection::vec(prop::sample::select(tokens), 0..48).prop_map(|v| v.concat())
    }

    /// A random well-formed expression tree, with its value computed independently of the
    /// parser.
    #[derive(Debug, Clone)]
    enum Tree {
        Num(u16),
        Retried,
        Neg(Box<Tree>),
        Bin(char, Box<Tree>, Box<Tree>),
        Call(&'static str, Vec<Tree>),
    }

    impl Tree {
        /// Rendered with the fewest parentheses the grammar needs (so precedence and
        /// associativity are exercised), `parent` being the binding power around it and
        /// `right` whether it is a right operand.
        fn render(&self, parent: u8, right: bool) -> String {
            match self {
                Tree::Num(n) => n.to_string(),
                Tree::Retried => "retried".to_owned(),
                Tree::Neg(t) => format!("-{}", t.render(UNARY, false)),
                Tree::Bin(op, a, b) => {
                    let power = if matches!(op, '+' | '-') {
                        ADDITIVE
                    } else {
                        MULTIPLICATIVE
                    };
                    let text = format!("{} {op} {}", a.render(power, false), b.render(power, true));
                    if power < parent || (power == parent && right) {
                        format!("({text})")
                    } else {
                        text
                    }
                }
                Tree::Call(name, args) => {
                    let args: Vec<String> = args.iter().map(|a| a.render(0, false)).collect();
                    format!("{name}({})", args.join(", "))
                }
            }
        }

        fn value(&self, retried: f64) -> f64 {
            match self {
                Tree::Num(n) => f64::from(*n),
                Tree::Retried => retried,
                Tree::Neg(t) => -t.value(retried),
                Tree::Bin(op, a, b) => {
                    let (a, b) = (a.value(retried), b.value(retried));
                    match op {
                        '+' => a + b,
                        '-' => a - b,
                        '*' => a * b,
                        _ => a / b,
                    }
                }
                Tree::Call(name, args) => {
                    let f = Func::lookup(name).unwrap();
                    let x = args[0].value(retried);
                    let y = args.get(1).map_or(f64::NAN, |a| a.value(retried));
                    f.apply(x, y)
                }
            }
        }
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![(0u16..2000).prop_map(Tree::Num), Just(Tree::Retried)];
        leaf.prop_recursive(5, 40, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Tree::Neg(Box::new(t))),
                (
                    prop::sample::select(vec!['+', '-', '*', '/']),
                    inner.clone(),
                    inner.clone()
                )
                    .prop_map(|(op, a, b)| Tree::Bin(op, Box::new(a), Box::new(b))),
                (
                    prop::sample::select(Func::ALL.to_vec()),
                    inner.clone(),
                    inner
                )
                    .prop_map(|(f, a, b)| {
                        let args = if f.arity() == 2 { vec![a, b] } else { vec![a] };
                        Tree::Call(f.name(), args)
                    }),
            ]
        })
    }

    fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    proptest! {
        #[test]
        fn expression_parser_never_panics(src in ".*") {
            match RetryDelayExpr::parse(&src) {
                Ok(e) => {
                    for retried in [0, 1, 7, u32::MAX] {
                        prop_assert!(e.delay(retried) <= MAX_RETRY_DELAY);
                    }
                }
                Err(err) => prop_assert!(!err.to_string().contains('\n')),
            }
        }

        #[test]
        fn expression_parser_never_panics_on_token_soup(src in token_soup()) {
            match RetryDelayExpr::parse(&src) {
                Ok(e) => {
                    for retried in [0, 1, 7, u32::MAX] {
                        prop_assert!(e.delay(retried) <= MAX_RETRY_DELAY);
                    }
                }
                Err(err) => prop_assert!(!err.to_string().contains('\n')),
            }
        }

        #[test]
        fn parsed_expressions_evaluate_like_the_tree(t in tree(), retried in 0u32..20) {
            let src = t.render(0, false);
            let e = RetryDelayExpr::parse(&src)
                .map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
            let (got, want) = (e.eval(retried), t.value(f64::from(retried)));
            prop_assert!(same(got, want), "{} = {} but the tree says {}", src, got, want);
        }

        #[test]
        fn retry_after_never_panics_or_exceeds_a_day(
            name in prop::sample::select(RETRY_SIGNAL_HEADERS.to_vec()),
            value in ".*",
            now_secs in 0u64..4_000_000_000,
        ) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                let mut map = HeaderMap::new();
                map.insert(name, value);
                let now = UNIX_EPOCH + Duration::from_secs(now_secs);
                prop_assert!(retry_after(&map, now).is_none_or(|d| d <= MAX_RETRY_DELAY));
            }
        }

        #[test]
        fn retry_after_reads_whole_seconds(n in 0u64..=86_400) {
            let map = headers(&[("Retry-After", &n.to_string())]);
            prop_assert_eq!(retry_after(&map, now()), Some(Duration::from_secs(n)));
        }
    }
}
