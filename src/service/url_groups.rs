//! URL groups (§4.7): upsert and remove endpoints, list, get, delete.

use std::collections::HashSet;

use super::{Service, ServiceError, ServiceResult};
use crate::model::{valid_name, Endpoint, EndpointSelector, UrlGroup};

fn invalid(field: &str, problem: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(format!("{field}: {problem}"))
}

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("URL group {name:?} not found"))
}

/// Group and endpoint names: `[A-Za-z0-9._-]+` (§2.2).
fn check_name(field: &str, name: &str) -> ServiceResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{name:?} is not a valid name: use only A-Z, a-z, 0-9, '.', '_' and '-'"),
        ))
    }
}

impl Service {
    /// Creates the group if it is missing and adds or updates the endpoints
    /// (URLs checked by the API). Each endpoint may appear once per request.
    pub async fn upsert_endpoints(
        &self,
        group: &str,
        endpoints: Vec<Endpoint>,
    ) -> ServiceResult<UrlGroup> {
        check_name("name", group)?;
        if endpoints.is_empty() {
            return Err(invalid("endpoints", "give at least one endpoint"));
        }
        let mut seen = HashSet::new();
        for (i, e) in endpoints.iter().enumerate() {
            if let Some(n) = &e.name {
                check_name(&format!("endpoints[{i}].name"), n)?;
            }
            if !seen.insert(e.key()) {
                let what = match &e.name {
                    Some(n) => format!("the name {n:?}"),
                    None => format!("the URL {:?} (without a name)", e.url),
                };
                return Err(invalid(
                    &format!("endpoints[{i}]"),
                    format!("{what} appears twice in this request"),
                ));
            }
        }
        Ok(self
            .store
            .upsert_endpoints(group, endpoints, self.now())
            .await?)
    }

    /// Removes the endpoints the selectors name (each by name, URL or
    /// both); one that matches nothing is no error. Removing the last
    /// endpoint deletes the group. Returns how many were removed.
    pub async fn remove_endpoints(
        &self,
        group: &str,
        selectors: Vec<EndpointSelector>,
    ) -> ServiceResult<usize> {
        check_name("name", group)?;
        if selectors.is_empty() {
            return Err(invalid("endpoints", "give at least one endpoint"));
        }
        for (i, s) in selectors.iter().enumerate() {
            if s.name.is_none() && s.url.is_none() {
                return Err(invalid(
                    &format!("endpoints[{i}]"),
                    "give the endpoint's name or url",
                ));
            }
        }
        self.store
            .remove_endpoints(group, selectors, self.now())
            .await?
            .ok_or_else(|| not_found(group))
    }

    pub async fn url_groups(&self) -> ServiceResult<Vec<UrlGroup>> {
        Ok(self.store.url_groups().await?)
    }

    pub async fn url_group(&self, name: &str) -> ServiceResult<UrlGroup> {
        self.store
            .url_group(name)
            .await?
            .ok_or_else(|| not_found(name))
    }

    /// Deletes the group; messages already sent through it are still
    /// delivered, and schedules to it create nothing until it exists again.
    pub async fn delete_url_group(&self, name: &str) -> ServiceResult<()> {
        if self.store.delete_url_group(name).await? {
            Ok(())
        } else {
            Err(not_found(name))
        }
    }
}
