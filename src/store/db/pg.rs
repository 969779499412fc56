//! The PostgreSQL side of the facade, on the blocking `postgres` client.
//!
//! - The store's SQL numbers its parameters SQLite's way (`?1`, `?`);
//!   PostgreSQL's are `$1`. Each statement is rewritten once, outside string
//!   literals and quoted names, and prepared once per connection, cached by
//!   its original text.
//! - A value is encoded by the type PostgreSQL gave its parameter when the
//!   statement was prepared (an integer binds as INT8, INT4, BOOL or text,
//!   as the column wants), so one `Value` serves every column.
//! - A column is decoded by its own type (INT8, INT4, BOOL, TEXT, JSONB,
//!   BYTEA, NUMERIC, ...) into the same `ValueRef` SQLite's side yields.
//! - The blocking client must never be used (or dropped) on an async
//!   thread: the store calls it on the writer thread and in
//!   `spawn_blocking`, and a client dropped inside the runtime is handed to
//!   a thread of its own to close.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres::types::{FromSql, IsNull, ToSql, Type};

use super::{DbError, Idx, Params, Result, Value, ValueRef};

/// One PostgreSQL connection with its statement cache.
pub struct PgConn {
    client: RefCell<ClientBox>,
    cache: RefCell<HashMap<String, postgres::Statement>>,
    /// A query failed for want of the connection.
    broken: Cell<bool>,
}

/// Owns the client, and closes it off the async threads.
struct ClientBox(Option<postgres::Client>);

impl Drop for ClientBox {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Closing blocks on the client's own runtime, which must not
            // start inside another one.
            let _ = std::thread::Builder::new()
                .name("cronhook-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

impl PgConn {
    /// Connects to `url` (libpq URL syntax). Blocking: call it off the
    /// async threads.
    pub fn connect(url: &str) -> Result<PgConn> {
        let mut target = super::PgUrl::parse(url)?;
        if target.config.get_connect_timeout().is_none() {
            target
                .config
                .connect_timeout(std::time::Duration::from_secs(5));
        }
        target.config.keepalives(true);
        let client = target.connect()?;
        Ok(PgConn {
            client: RefCell::new(ClientBox(Some(client))),
            cache: RefCell::new(HashMap::new()),
            broken: Cell::new(false),
        })
    }

    /// The client itself, for what the facade does not cover (migrations,
    /// notices, the lease).
    pub fn with_client<R>(&self, f: impl FnOnce(&mut postgres::Client) -> R) -> R {
        let mut b = self.client.borrow_mut();
        f(b.0.as_mut().expect("the client is only taken on drop"))
    }

    fn note<T>(&self, r: std::result::Result<T, postgres::Error>) -> Result<T> {
        r.map_err(|e| {
            if is_connection(&e) {
                self.broken.set(true);
            }
            DbError::Postgres(e)
        })
    }

    pub(super) fn is_broken(&self) -> bool {
        self.broken.get() || self.with_client(|c| c.is_closed())
    }

    pub(super) fn prepare_cached(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let text = rewrite(sql);
        let stmt = self.note(self.with_client(|c| c.prepare(&text)))?;
        self.cache.borrow_mut().insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    pub(super) fn execute(&self, stmt: &postgres::Statement, params: impl Params) -> Result<usize> {
        let values: Vec<Value<'_>> = params.values().collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let n = self.note(self.with_client(|c| c.execute(stmt, &refs)))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn query(
        &self,
        stmt: &postgres::Statement,
        params: impl Params,
    ) -> Result<Vec<postgres::Row>> {
        let values: Vec<Value<'_>> = params.values().collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        self.note(self.with_client(|c| c.query(stmt, &refs)))
    }

    pub(super) fn batch_execute(&self, sql: &str) -> Result<()> {
        self.note(self.with_client(|c| c.batch_execute(sql)))
    }
}

/// Whether `e` means the connection is gone rather than the statement
/// being wrong: closed, an I/O error, SQLSTATE class 08 (connection
/// exception), or the server shutting down (57P01-57P03).
pub(super) fn is_connection(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
        }
        None => e
            .source()
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// The server's message (with its detail) rather than the client's terse
/// "db error".
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.code().code(), db.message()),
            None => format!("{}: {}", db.code().code(), db.message()),
        },
        None => match e.source() {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

/// `?N` → `$N` and `?` → the next number (SQLite's rule: one more than the
/// largest so far), outside '…' literals, "…" names and `--` comments.
pub(super) fn rewrite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut largest = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break; // a doubled quote closes and reopens
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut n = 0u32;
                let mut digits = false;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d;
                    digits = true;
                    chars.next();
                }
                if !digits {
                    n = largest + 1;
                }
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}

type BoxError = Box<dyn StdError + Sync + Send>;

fn mismatch(v: &Value<'_>, ty: &Type) -> BoxError {
    let what = match v {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    };
    format!("cannot bind {what} to a parameter of type {ty}").into()
}

fn text_type(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON
    )
}

fn put_text(ty: &Type, s: &[u8], out: &mut BytesMut) {
    if *ty == Type::JSONB {
        out.put_u8(1); // JSONB's binary format: a version byte, then the text
    }
    out.put_slice(s);
}

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match *self {
            Value::Null => return Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => out.put_i64(i),
                Type::INT4 => out.put_i32(i32::try_from(i)?),
                Type::INT2 => out.put_i16(i16::try_from(i)?),
                Type::BOOL => out.put_u8(u8::from(i != 0)),
                Type::FLOAT8 => out.put_f64(i as f64),
                Type::FLOAT4 => out.put_f32(i as f32),
                ref t if text_type(t) || *t == Type::JSONB => {
                    put_text(t, i.to_string().as_bytes(), out)
                }
                ref t => return Err(mismatch(self, t)),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => out.put_f64(f),
                Type::FLOAT4 => out.put_f32(f as f32),
                ref t if text_type(t) || *t == Type::JSONB => {
                    put_text(t, f.to_string().as_bytes(), out)
                }
                ref t => return Err(mismatch(self, t)),
            },
            Value::Text(s) => match *ty {
                Type::BYTEA => out.put_slice(s.as_bytes()),
                ref t if text_type(t) || *t == Type::JSONB => put_text(t, s.as_bytes(), out),
                ref t => return Err(mismatch(self, t)),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => out.put_slice(b),
                ref t if text_type(t) || *t == Type::JSONB => {
                    std::str::from_utf8(b)?;
                    put_text(t, b, out)
                }
                ref t => return Err(mismatch(self, t)),
            },
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column's bytes as the server sent them (binary format), any type.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Column `idx` of `row`, decoded by its type.
pub(super) fn value<'r>(row: &'r postgres::Row, idx: Idx<'_>) -> Result<ValueRef<'r>> {
    let i = match idx {
        Idx::Pos(i) => i,
        Idx::Name(n) => row
            .columns()
            .iter()
            .position(|c| c.name() == n)
            .ok_or_else(|| DbError::conversion(idx, "no such column"))?,
    };
    let ty = row
        .columns()
        .get(i)
        .ok_or_else(|| DbError::conversion(idx, "no such column"))?
        .type_();
    let Raw(raw) = row.try_get::<_, Raw<'r>>(i)?;
    let Some(raw) = raw else {
        return Ok(ValueRef::Null);
    };
    decode(ty, raw).map_err(|why| DbError::conversion(idx, why))
}

fn fixed<const N: usize>(raw: &[u8]) -> std::result::Result<[u8; N], String> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, found {}", raw.len()))
}

fn decode<'r>(ty: &Type, raw: &'r [u8]) -> std::result::Result<ValueRef<'r>, String> {
    let utf8 = |b: &'r [u8]| std::str::from_utf8(b).map_err(|e| e.to_string());
    Ok(match *ty {
        Type::INT8 => ValueRef::Int(i64::from_be_bytes(fixed(raw)?)),
        Type::INT4 => ValueRef::Int(i32::from_be_bytes(fixed(raw)?).into()),
        Type::INT2 => ValueRef::Int(i16::from_be_bytes(fixed(raw)?).into()),
        Type::OID => ValueRef::Int(u32::from_be_bytes(fixed(raw)?).into()),
        Type::BOOL => ValueRef::Int(i64::from(fixed::<1>(raw)?[0] != 0)),
        Type::FLOAT8 => ValueRef::Real(f64::from_be_bytes(fixed(raw)?)),
        Type::FLOAT4 => ValueRef::Real(f32::from_be_bytes(fixed(raw)?).into()),
        Type::NUMERIC => numeric(raw)?,
        Type::BYTEA => ValueRef::Blob(raw),
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => ValueRef::Text(utf8(text)?),
            _ => return Err("unknown JSONB format".into()),
        },
        ref t if text_type(t) => ValueRef::Text(utf8(raw)?),
        ref t => return Err(format!("cannot read a column of type {t}")),
    })
}

/// A NUMERIC without a fraction (what `sum` of BIGINTs gives) as an
/// integer; with one, as a real.
fn numeric(raw: &[u8]) -> std::result::Result<ValueRef<'static>, String> {
    let word = |i: usize| -> std::result::Result<i16, String> {
        raw.get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a NUMERIC too short".to_owned())
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(2)?, word(4)? as u16, word(6)?);
    if sign == 0xC000 {
        return Err("NaN".into());
    }
    let mut value = 0f64;
    let mut int: i128 = 0;
    for k in 0..ndigits.max(0) as usize {
        let d = word(8 + 2 * k)?;
        let power = weight as i32 - k as i32;
        value += d as f64 * 10000f64.powi(power);
        if power >= 0 {
            int = int.saturating_add(d as i128 * 10000i128.saturating_pow(power as u32));
        }
    }
    let negative = sign == 0x4000;
    if dscale == 0 {
        let int = if negative { -int } else { int };
        let int = i64::try_from(int).map_err(|_| "a NUMERIC out of range".to_owned())?;
        Ok(ValueRef::Int(int))
    } else {
        Ok(ValueRef::Real(if negative { -value } else { value }))
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn placeholders_become_dollar_numbers_outside_literals() {
        assert_eq!(
            rewrite("SELECT ?1, ?2 WHERE a = '?3' AND \"b?\" = ? -- ?9\n AND c = ?"),
            "SELECT $1, $2 WHERE a = '?3' AND \"b?\" = $3 -- ?9\n AND c = $4"
        );
        assert_eq!(
            rewrite("x = 'it''s ?' OR y = ?2"),
            "x = 'it''s ?' OR y = $2"
        );
    }
}
