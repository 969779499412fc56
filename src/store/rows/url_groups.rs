//! `url_groups` and `url_group_endpoints` (§4.7).

use crate::store::db::{params, Conn, OptionalExtension};

use crate::model::{Endpoint, Millis, UrlGroup};
use crate::store::StoreError;

/// Creates group `name` at `now` unless it exists, else marks it updated.
pub(in crate::store) fn touch(conn: &Conn, name: &str, now: Millis) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO url_groups (name, created_at, updated_at) VALUES (?1, ?2, ?2) \
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
    )?
    .execute(params![name, now])?;
    Ok(())
}

/// Adds endpoint `e`, or gives the one with its key its new URL (a named
/// endpoint) in place.
pub(in crate::store) fn put_endpoint(
    conn: &Conn,
    group: &str,
    e: &Endpoint,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO url_group_endpoints (group_name, key, name, url) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (group_name, key) DO UPDATE SET url = excluded.url",
    )?
    .execute(params![group, e.key(), e.name, e.url])?;
    Ok(())
}

/// Removes the endpoint with `key`; whether there was one.
pub(in crate::store) fn delete_endpoint(
    conn: &Conn,
    group: &str,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM url_group_endpoints WHERE group_name = ?1 AND key = ?2")?
        .execute(params![group, key])?
        == 1)
}

/// The group's endpoints, in the order they were first added.
pub(in crate::store) fn endpoints(conn: &Conn, group: &str) -> Result<Vec<Endpoint>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, url FROM url_group_endpoints WHERE group_name = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map([group], |r| {
        Ok(Endpoint {
            name: r.get(0)?,
            url: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Group `name` with its endpoints.
pub(in crate::store) fn get(conn: &Conn, name: &str) -> Result<Option<UrlGroup>, StoreError> {
    let head: Option<(Millis, Millis)> = conn
        .prepare_cached("SELECT created_at, updated_at FROM url_groups WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((created_at, updated_at)) = head else {
        return Ok(None);
    };
    Ok(Some(UrlGroup {
        name: name.to_owned(),
        created_at,
        updated_at,
        endpoints: endpoints(conn, name)?,
    }))
}

/// Every group, oldest first, each with its endpoints in the order they
/// were first added: one query, not one per group.
pub(in crate::store) fn all(conn: &Conn) -> Result<Vec<UrlGroup>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.name, g.created_at, g.updated_at, e.name, e.url FROM url_groups g \
         LEFT JOIN url_group_endpoints e ON e.group_name = g.name \
         ORDER BY g.created_at, g.name, e.rowid",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<UrlGroup> = Vec::new();
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        if out.last().is_none_or(|g| g.name != name) {
            out.push(UrlGroup {
                name,
                created_at: r.get(1)?,
                updated_at: r.get(2)?,
                endpoints: Vec::new(),
            });
        }
        if let Some(url) = r.get::<_, Option<String>>(4)? {
            let g = out.last_mut().expect("pushed above");
            g.endpoints.push(Endpoint {
                name: r.get(3)?,
                url,
            });
        }
    }
    Ok(out)
}

/// Deletes the group and its endpoints; whether it existed.
pub(in crate::store) fn delete(conn: &Conn, name: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("DELETE FROM url_group_endpoints WHERE group_name = ?1")?
        .execute([name])?;
    Ok(conn
        .prepare_cached("DELETE FROM url_groups WHERE name = ?1")?
        .execute([name])?
        == 1)
}
