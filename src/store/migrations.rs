//! Schema versioning with `PRAGMA user_version`.
//!
//! A new database gets `schema.sql` whole and the latest version. An older one
//! runs the ordered steps in `STEPS` from its version up; each step is its own
//! transaction, so a crash mid-upgrade leaves a consistent, resumable database.

use rusqlite::Connection;

use super::StoreError;

/// The whole current schema.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Version that `SCHEMA` describes.
pub const LATEST_VERSION: i64 = 1;

/// `STEPS[i]` upgrades a database from version `i + 1` to `i + 2`.
const STEPS: &[&str] = &[];

/// Brings the database at `conn` to `LATEST_VERSION`.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            known: LATEST_VERSION,
        });
    }
    if version == 0 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", LATEST_VERSION)?;
        tx.commit()?;
        return Ok(());
    }
    for (from, step) in STEPS.iter().enumerate().skip((version - 1) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", from as i64 + 2)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST_VERSION);
        // Running again on a current database changes nothing.
        migrate(&mut conn).unwrap();
    }

    #[test]
    fn a_database_from_a_newer_cronhook_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn steps_cover_every_version_below_latest() {
        assert_eq!(STEPS.len() as i64, LATEST_VERSION - 1);
    }
}
