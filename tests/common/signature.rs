//! Checking `Upstash-Signature` the way a receiver does (§8).
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::sink::Received;

/// The claims of `r`'s `Upstash-Signature`, if it verifies with `key`.
pub fn verify(r: &Received, key: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let token = r.header("upstash-signature").expect("an Upstash-Signature");
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&["Upstash"]);
    v.set_required_spec_claims(&["exp", "iss", "sub", "nbf", "iat"]);
    decode::<Value>(token, &DecodingKey::from_secret(key.as_bytes()), &v).map(|d| d.claims)
}

/// `r` is signed with `key` for `url` over its exact body.
pub fn assert_signed(r: &Received, key: &str, url: &str) {
    let claims =
        verify(r, key).unwrap_or_else(|e| panic!("the signature does not verify with {key}: {e}"));
    assert_eq!(claims["sub"], url, "sub is the URL the request went to");
    let want = URL_SAFE.encode(Sha256::digest(&r.body));
    assert_eq!(
        claims["body"].as_str().unwrap().trim_end_matches('='),
        want.trim_end_matches('=')
    );
}
