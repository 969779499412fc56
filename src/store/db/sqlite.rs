//! The SQLite side of the facade: values go to rusqlite borrowed
//! (`ToSqlOutput::Borrowed`) and come back from its `ValueRef`, so nothing
//! is copied that rusqlite did not copy before.

use rusqlite::types::{ToSqlOutput, ValueRef as SqlValueRef};

use super::{DbError, Idx, Params, Result, Value, ValueRef};

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => SqlValueRef::Null,
            Value::Int(i) => SqlValueRef::Integer(i),
            Value::Real(f) => SqlValueRef::Real(f),
            Value::Text(s) => SqlValueRef::Text(s.as_bytes()),
            Value::Blob(b) => SqlValueRef::Blob(b),
        }))
    }
}

pub(super) fn execute(stmt: &mut rusqlite::Statement<'_>, params: impl Params) -> Result<usize> {
    Ok(stmt.execute(rusqlite::params_from_iter(params.values()))?)
}

pub(super) fn query<'s>(
    stmt: &'s mut rusqlite::Statement<'_>,
    params: impl Params,
) -> Result<rusqlite::Rows<'s>> {
    Ok(stmt.query(rusqlite::params_from_iter(params.values()))?)
}

/// Column `idx` of `row`, borrowed.
pub(super) fn value<'r>(row: &'r rusqlite::Row<'_>, idx: Idx<'_>) -> Result<ValueRef<'r>> {
    let v = match idx {
        Idx::Pos(i) => row.get_ref(i)?,
        Idx::Name(n) => row.get_ref(n)?,
    };
    Ok(match v {
        SqlValueRef::Null => ValueRef::Null,
        SqlValueRef::Integer(i) => ValueRef::Int(i),
        SqlValueRef::Real(f) => ValueRef::Real(f),
        SqlValueRef::Text(t) => {
            ValueRef::Text(std::str::from_utf8(t).map_err(|e| DbError::conversion(idx, e))?)
        }
        SqlValueRef::Blob(b) => ValueRef::Blob(b),
    })
}
