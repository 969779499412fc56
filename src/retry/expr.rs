//! The `Upstash-Retry-Delay` expression language: lexer, parser to a postfix program,
//! and evaluator.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{MAX_EXPR_DEPTH, MAX_EXPR_LEN, MAX_RETRY_DELAY};
use crate::duration::{clip, column};

#[cfg(test)]
mod tests;

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
    /// The expression gives a negative, NaN or infinite delay for a `retried` value that a
    /// message will reach; found by [`RetryDelayExpr::check`], not by parsing.
    #[error("the delay for retried = {retried} is {}", bad_delay(*.value))]
    InvalidDelay { retried: u32, value: f64 },
}

/// Says what is wrong with a raw delay that [`RetryDelayExpr::check`] refused. Very large
/// and very small magnitudes are written with an exponent, since `f64`'s `Display` would
/// spell `-1e300` with 300 digits and the message must stay one short line.
fn bad_delay(ms: f64) -> String {
    if ms.is_nan() {
        "not a number".to_owned()
    } else if ms == f64::INFINITY {
        "infinite; it must be a finite number of milliseconds".to_owned()
    } else if ms == f64::NEG_INFINITY {
        "minus infinity; it must be 0 or more".to_owned()
    } else if (1e-6..1e15).contains(&ms.abs()) {
        format!("{ms} ms; it must be 0 or more")
    } else {
        format!("{ms:e} ms; it must be 0 or more")
    }
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

    /// Refuses the expression if, for a message with `retries` retries, some retry would
    /// get a negative, NaN or infinite delay; the first such `retried` value is reported as
    /// [`RetryExprError::InvalidDelay`].
    ///
    /// The values checked are `retried` in `0..retries`: the delay before retry `k + 1` is
    /// computed with `retried = k`, and none is computed after the last retry, so with
    /// `retries = 0` there is nothing to check.
    ///
    /// [`delay`](Self::delay) stays total and clamps these values (negative and NaN to "retry
    /// now", +∞ to a day) so that delivery never fails on them. They are nearly always a
    /// mistake, though (`1000 - retried * 2000` quietly becomes "retry at once" from the
    /// second retry on), so the API can use this to answer 400 up front instead. It therefore
    /// looks at the raw value, before clamping. A finite value above a day is accepted:
    /// capping it at [`MAX_RETRY_DELAY`] is documented behaviour, not an error.
    ///
    /// The cost is one evaluation per retry; the caller bounds `retries` first
    /// (`Upstash-Retries` is at most 100).
    pub fn check(&self, retries: u32) -> Result<(), RetryExprError> {
        for retried in 0..retries {
            let value = self.eval(retried);
            // `-0.0 < 0.0` is false, so `-0` is a valid zero delay.
            if !value.is_finite() || value < 0.0 {
                return Err(RetryExprError::InvalidDelay { retried, value });
            }
        }
        Ok(())
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
