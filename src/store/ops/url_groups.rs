//! URL groups (§4.7): upserting and removing endpoints, reading and
//! deleting groups. Publishing to a group is in `messages`, firing a
//! schedule to one in `schedules`; both read the endpoints in their own
//! write transaction (`steps::fan_out`).

use crate::model::{Endpoint, EndpointSelector, Millis, UrlGroup};
use crate::store::rows::url_groups as rows;
use crate::store::{Store, StoreError};

impl Store {
    /// Creates group `name` if it is missing and adds each endpoint, or
    /// updates the one with its key. A named endpoint takes the place of an
    /// unnamed one with the same URL, so a URL is not sent to twice for
    /// being added once without and once with a name. Returns the group.
    pub async fn upsert_endpoints(
        &self,
        name: &str,
        endpoints: Vec<Endpoint>,
        now: Millis,
    ) -> Result<UrlGroup, StoreError> {
        let name = name.to_owned();
        self.write(move |tx| {
            rows::touch(tx, &name, now)?;
            for e in &endpoints {
                if e.name.is_some() {
                    rows::delete_endpoint(tx, &name, &format!("url:{}", e.url))?;
                }
                rows::put_endpoint(tx, &name, e)?;
            }
            Ok(rows::get(tx, &name)?.expect("touched above"))
        })
        .await
    }

    /// Removes the endpoints each selector matches; selectors that match
    /// nothing are no error. The group goes with its last endpoint.
    /// Returns how many were removed, or `None` when there is no such group.
    pub async fn remove_endpoints(
        &self,
        name: &str,
        selectors: Vec<EndpointSelector>,
        now: Millis,
    ) -> Result<Option<usize>, StoreError> {
        let name = name.to_owned();
        self.write(move |tx| {
            let Some(group) = rows::get(tx, &name)? else {
                return Ok(None);
            };
            let mut removed = 0;
            for e in &group.endpoints {
                if selectors.iter().any(|s| s.matches(e)) {
                    removed += usize::from(rows::delete_endpoint(tx, &name, &e.key())?);
                }
            }
            if removed == group.endpoints.len() {
                rows::delete(tx, &name)?;
            } else if removed > 0 {
                rows::touch(tx, &name, now)?;
            }
            Ok(Some(removed))
        })
        .await
    }

    pub async fn url_group(&self, name: &str) -> Result<Option<UrlGroup>, StoreError> {
        let name = name.to_owned();
        self.read_api(move |conn| rows::get(conn, &name)).await
    }

    /// Every group, oldest first.
    pub async fn url_groups(&self) -> Result<Vec<UrlGroup>, StoreError> {
        self.read_api(rows::all).await
    }

    /// Deletes the group; messages already sent through it stay. Whether it
    /// existed.
    pub async fn delete_url_group(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |tx| rows::delete(tx, &name)).await
    }
}
