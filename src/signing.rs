//! `Upstash-Signature`: an HS256 JWT over the exact bytes delivered (§8).

use std::sync::LazyLock;

use base64::{
    engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD},
    Engine as _,
};
use hmac::{Hmac, Mac};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Lifetime of a signature; QStash's default (§8.2). A new token is made per
/// attempt, so retries after long backoffs never arrive expired.
pub const TOKEN_LIFETIME_SECS: i64 = 300;

/// The `iss` claim.
const ISSUER: &str = "Upstash";

/// The claims, in the order QStash writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub body: String,
}

impl Claims {
    /// Claims for a request to `url` with `body`, issued at `now_secs`.
    /// `nbf` is 0 so small clock differences never reject a delivery (§8.2).
    pub fn new(url: &str, body: &[u8], now_secs: i64, jti: String) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: url.into(),
            exp: now_secs + TOKEN_LIFETIME_SECS,
            nbf: 0,
            iat: now_secs,
            jti,
            body: body_hash(body),
        }
    }
}

/// base64url (padded) SHA-256 of the raw body: the `body` claim.
pub fn body_hash(body: &[u8]) -> String {
    URL_SAFE.encode(Sha256::digest(body))
}

/// Signs claims with a signing key; the key is used as its UTF-8 bytes, not
/// decoded (§8.1). The reference for `PreparedKey`, which deliveries use.
pub fn sign(claims: &Claims, signing_key: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(signing_key.as_bytes()),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

/// A signing key made ready for many signatures: the HMAC state is keyed
/// once per key, and the token's header segment is encoded once, so an
/// attempt pays for its claims and one MAC only. The tokens are byte for
/// byte those of `sign` (the tests compare them).
#[derive(Clone)]
pub struct PreparedKey {
    key: String,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedKey(..)")
    }
}

/// `base64url(JSON of the HS256 header)`, as `jsonwebtoken` writes it.
static HEADER_SEGMENT: LazyLock<String> = LazyLock::new(|| {
    let json = serde_json::to_vec(&Header::new(Algorithm::HS256)).expect("JSON of the header");
    URL_SAFE_NO_PAD.encode(json)
});

impl PreparedKey {
    /// Prepares `signing_key`, used as its UTF-8 bytes (§8.1).
    pub fn new(signing_key: &str) -> PreparedKey {
        PreparedKey {
            key: signing_key.to_owned(),
            mac: Hmac::new_from_slice(signing_key.as_bytes())
                .expect("HMAC takes keys of any length"),
        }
    }

    /// Whether this is `signing_key` prepared.
    pub fn is(&self, signing_key: &str) -> bool {
        self.key == signing_key
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        self.sign_claims(&ClaimsOf {
            iss: &claims.iss,
            sub: &claims.sub,
            exp: claims.exp,
            nbf: claims.nbf,
            iat: claims.iat,
            jti: &claims.jti,
            body: &claims.body,
        })
    }

    /// The token of a request to `url` with `body`, issued at `now_secs`:
    /// the claims of `Claims::new`, without building them as owned strings.
    pub fn sign_request(&self, url: &str, body: &[u8], now_secs: i64, jti: &str) -> String {
        let hash = body_hash(body);
        self.sign_claims(&ClaimsOf {
            iss: ISSUER,
            sub: url,
            exp: now_secs + TOKEN_LIFETIME_SECS,
            nbf: 0,
            iat: now_secs,
            jti,
            body: &hash,
        })
    }

    fn sign_claims(&self, claims: &ClaimsOf<'_>) -> String {
        let json = serde_json::to_vec(claims).expect("JSON of plain claims");
        let header = HEADER_SEGMENT.as_str();
        // header . claims . signature, each base64url without padding; a
        // SHA-256 MAC is 43 characters.
        let mut token = String::with_capacity(header.len() + json.len().div_ceil(3) * 4 + 45);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        let signature = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }
}

/// `Claims` borrowed: the same fields in the same order, so the same JSON.
#[derive(Serialize)]
struct ClaimsOf<'a> {
    iss: &'a str,
    sub: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: &'a str,
    body: &'a str,
}

/// A new signing key: `sig_` and 28 base58 characters (about 164 random
/// bits), shaped like QStash's keys.
pub fn new_signing_key() -> String {
    use rand::Rng;
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..28)
        .map(|_| BASE58[rng.random_range(0..BASE58.len())] as char)
        .collect();
    format!("sig_{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    const KEY: &str = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
    /// §8.4, the whole token.
    const VECTOR: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJVcHN0YXNoIiwic3ViIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9hcGkvd2ViaG9vayIsImV4cCI6MTcwMDAwMDMwMCwibmJmIjoxNzAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6Imp3dF90ZXN0MTIzIiwiYm9keSI6Ims2STVjYWtVNWVyTDhLalNVVlROb3duRHdjY3Z1NWtVMUh4Zzg4dG9GWWc9In0.c-56BA9iHw1HftAIRxrSqsmrtKUZR_jkkTj8ScNkqIg";

    fn vector_claims() -> Claims {
        Claims {
            nbf: 1_700_000_000,
            ..Claims::new(
                "https://example.com/api/webhook",
                br#"{"hello":"world"}"#,
                1_700_000_000,
                "jwt_test123".into(),
            )
        }
    }

    fn expired_ok() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        v
    }

    #[test]
    fn body_claims_match_the_test_vector() {
        assert_eq!(
            body_hash(br#"{"hello":"world"}"#),
            "k6I5cakU5erL8KjSUVTNownDwccvu5kU1Hxg88toFYg="
        );
        assert_eq!(
            body_hash(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn payload_bytes_match_the_test_vector() {
        let ours = sign(&vector_claims(), KEY);
        let payload = |t: &str| t.split('.').nth(1).unwrap().to_owned();
        assert_eq!(payload(&ours), payload(VECTOR));
    }

    #[test]
    fn the_test_vector_verifies_with_the_key_bytes_and_ours_verifies_too() {
        let key = DecodingKey::from_secret(KEY.as_bytes());
        let theirs = decode::<Claims>(VECTOR, &key, &expired_ok()).unwrap();
        assert_eq!(theirs.claims, vector_claims());
        let ours = decode::<Claims>(&sign(&vector_claims(), KEY), &key, &expired_ok()).unwrap();
        assert_eq!(ours.claims, vector_claims());
    }

    #[test]
    fn a_token_signed_with_another_key_does_not_verify() {
        let token = sign(&vector_claims(), "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs");
        let key = DecodingKey::from_secret(KEY.as_bytes());
        assert!(decode::<Claims>(&token, &key, &expired_ok()).is_err());
    }

    #[test]
    fn a_prepared_key_signs_the_same_tokens_as_jsonwebtoken() {
        let prepared = PreparedKey::new(KEY);
        assert_eq!(prepared.sign(&vector_claims()), sign(&vector_claims(), KEY));
        let body = br#"{"hello":"world"}"#;
        let url = "http://127.0.0.1:9/hook?x=1";
        let fresh = Claims::new(url, body, 1_800_000_000, "jwt_abc".into());
        assert_eq!(
            prepared.sign_request(url, body, 1_800_000_000, "jwt_abc"),
            sign(&fresh, KEY)
        );
        assert!(prepared.is(KEY) && !prepared.is("sig_other"));
    }

    #[test]
    fn a_prepared_key_verifies_with_the_key_bytes_and_only_with_them() {
        let token = PreparedKey::new(KEY).sign_request("http://a.test/", b"x", 1000, "jwt_q");
        let key = DecodingKey::from_secret(KEY.as_bytes());
        let got = decode::<Claims>(&token, &key, &expired_ok()).unwrap();
        assert_eq!(
            got.claims,
            Claims::new("http://a.test/", b"x", 1000, "jwt_q".into())
        );
        let other = DecodingKey::from_secret(b"sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs");
        assert!(decode::<Claims>(&token, &other, &expired_ok()).is_err());
    }

    #[test]
    fn fresh_claims_have_nbf_zero_and_five_minutes_of_life() {
        let c = Claims::new("http://127.0.0.1/x", b"", 1000, "jwt_a".into());
        assert_eq!((c.nbf, c.iat, c.exp), (0, 1000, 1300));
        assert_eq!(c.iss, "Upstash");
    }
}
