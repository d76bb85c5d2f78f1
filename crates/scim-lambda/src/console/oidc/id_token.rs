//! The ID token's verification, OpenID Connect Core 1.0 §3.1.3.7: a JWS in compact form
//! (RFC 7515 §7.1) signed with RS256 by a key of the provider's set, issued by the configured
//! issuer to this client, current, and carrying the nonce of this sign-in.

use super::jwks::{Jwks, RsaKey};
use super::Identity;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{Map, Value};
use std::fmt;

/// Clock skew allowed between the provider and us, for `exp` and `iat`.
const LEEWAY_SECONDS: f64 = 60.0;

/// What the token must say.
#[derive(Debug)]
pub(super) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub groups_claim: &'a str,
}

/// Why an ID token was refused. No variant holds the token or the nonce.
#[derive(Clone, Debug, PartialEq)]
pub enum IdTokenError {
    /// Not a JWS in compact form with a JSON header and claims.
    Malformed(&'static str),
    /// A signing algorithm other than RS256 (`none`, HS256, RS512…).
    Algorithm(String),
    /// A `crit` header: extensions we do not implement must not be ignored (RFC 7515 §4.1.11).
    CriticalHeader,
    NoKeyId,
    /// No RS256 signing key of the provider has this id, even after fetching the keys again.
    UnknownKey(String),
    BadSignature,
    MissingClaim(&'static str),
    /// A claim of the wrong JSON type.
    InvalidClaim(String),
    /// `iss` is not the configured issuer; holds the token's.
    Issuer(String),
    /// The client id is not among the audiences.
    Audience,
    /// Several audiences and no `azp`, or an `azp` that is not the client id.
    AuthorizedParty,
    Expired {
        exp: f64,
        now: u64,
    },
    IssuedInFuture {
        iat: f64,
        now: u64,
    },
    /// Not the nonce this sign-in sent: a token from another sign-in, or replayed.
    Nonce,
    /// Cognito's `token_use` says this is not an ID token.
    TokenUse(String),
}

impl fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdTokenError::Malformed(what) => write!(f, "malformed: {what}"),
            IdTokenError::Algorithm(alg) => write!(f, "signed with {alg}, not RS256"),
            IdTokenError::CriticalHeader => f.write_str("it has a crit header we do not understand"),
            IdTokenError::NoKeyId => f.write_str("its header names no key (kid)"),
            IdTokenError::UnknownKey(kid) => write!(f, "no RS256 key {kid} in the provider's key set"),
            IdTokenError::BadSignature => f.write_str("the signature does not verify"),
            IdTokenError::MissingClaim(claim) => write!(f, "no {claim} claim"),
            IdTokenError::InvalidClaim(claim) => write!(f, "the {claim} claim has the wrong type"),
            IdTokenError::Issuer(iss) => write!(f, "issued by {iss}, not the configured issuer"),
            IdTokenError::Audience => f.write_str("not issued to this client (aud)"),
            IdTokenError::AuthorizedParty => {
                f.write_str("several audiences and the authorized party (azp) is not this client")
            }
            IdTokenError::Expired { exp, now } => write!(f, "expired at {exp} (now {now})"),
            IdTokenError::IssuedInFuture { iat, now } => {
                write!(f, "issued in the future at {iat} (now {now})")
            }
            IdTokenError::Nonce => f.write_str("its nonce is not this sign-in's"),
            IdTokenError::TokenUse(used) => write!(f, "token_use is {used}, not id"),
        }
    }
}

impl std::error::Error for IdTokenError {}

/// The token's identity when every check passes; `now` is seconds since the epoch.
pub(super) fn verify(
    token: &str,
    keys: &Jwks,
    expected: &Expected,
    now: u64,
) -> Result<Identity, IdTokenError> {
    let jws = Jws::parse(token)?;
    let kid = jws.rs256_key_id()?;
    let key = keys
        .find(kid)
        .ok_or_else(|| IdTokenError::UnknownKey(kid.to_owned()))?;
    jws.verify_signature(key)?;
    let claims = json_object(&jws.payload, "the claims are not a JSON object")?;
    identity(&claims, expected, now)
}

/// A JWS in compact form, split and decoded; nothing checked yet.
struct Jws<'a> {
    /// `BASE64URL(header) '.' BASE64URL(payload)`, what the signature covers.
    signing_input: &'a str,
    header: Map<String, Value>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    fn parse(token: &'a str) -> Result<Jws<'a>, IdTokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdTokenError::Malformed("not three dot-separated parts"));
        };
        let decode = |part: &str, what: &'static str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| IdTokenError::Malformed(what))
        };
        let header = decode(header, "the header is not base64url")?;
        Ok(Jws {
            signing_input: &token[..token.len() - signature.len() - 1],
            header: json_object(&header, "the header is not a JSON object")?,
            payload: decode(payload, "the claims are not base64url")?,
            signature: decode(signature, "the signature is not base64url")?,
        })
    }

    /// RS256 and nothing else, whatever the provider's discovery offers (Canaille's lists
    /// `none`): the algorithm is ours to choose, never the token's (RFC 8725 §3.1).
    fn rs256_key_id(&self) -> Result<&str, IdTokenError> {
        match self.header.get("alg") {
            Some(Value::String(alg)) if alg == "RS256" => {}
            Some(Value::String(alg)) => return Err(IdTokenError::Algorithm(alg.clone())),
            _ => return Err(IdTokenError::Malformed("the header has no alg")),
        }
        if self.header.contains_key("crit") {
            return Err(IdTokenError::CriticalHeader);
        }
        match self.header.get("kid") {
            Some(Value::String(kid)) => Ok(kid),
            _ => Err(IdTokenError::NoKeyId),
        }
    }

    fn verify_signature(&self, key: &RsaKey) -> Result<(), IdTokenError> {
        let public_key = RsaPublicKeyComponents { n: &key.n, e: &key.e };
        public_key
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                self.signing_input.as_bytes(),
                &self.signature,
            )
            .map_err(|_| IdTokenError::BadSignature)
    }
}

fn json_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, IdTokenError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(IdTokenError::Malformed(what)),
    }
}

/// §3.1.3.7 steps 2-5 and 9-11 (the signature, steps 6-7, is checked before), and Cognito's
/// `token_use`.
fn identity(claims: &Map<String, Value>, expected: &Expected, now: u64) -> Result<Identity, IdTokenError> {
    let issuer = required_string(claims, "iss")?;
    if issuer != expected.issuer {
        return Err(IdTokenError::Issuer(issuer.to_owned()));
    }
    check_audience(claims, expected.client_id)?;
    let current = now as f64;
    let exp = required_number(claims, "exp")?;
    if current >= exp + LEEWAY_SECONDS {
        return Err(IdTokenError::Expired { exp, now });
    }
    let iat = required_number(claims, "iat")?;
    if iat > current + LEEWAY_SECONDS {
        return Err(IdTokenError::IssuedInFuture { iat, now });
    }
    if required_string(claims, "nonce")? != expected.nonce {
        return Err(IdTokenError::Nonce);
    }
    if let Some(used) = optional_string(claims, "token_use")? {
        if used != "id" {
            return Err(IdTokenError::TokenUse(used.to_owned()));
        }
    }
    Ok(Identity {
        subject: required_string(claims, "sub")?.to_owned(),
        email: optional_string(claims, "email")?.map(str::to_owned),
        name: optional_string(claims, "name")?.map(str::to_owned),
        groups: groups(claims, expected.groups_claim)?,
    })
}

/// `aud` is the client id or a list holding it; with several audiences `azp` must be the client
/// id, and when present it must be in any case (§3.1.3.7 steps 3-5).
fn check_audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), IdTokenError> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(audience)) => vec![audience],
        Some(Value::Array(list)) => list
            .iter()
            .map(|audience| audience.as_str().ok_or_else(|| invalid("aud")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("aud")),
        None => return Err(IdTokenError::MissingClaim("aud")),
    };
    if !audiences.contains(&client_id) {
        return Err(IdTokenError::Audience);
    }
    match optional_string(claims, "azp")? {
        Some(party) if party != client_id => Err(IdTokenError::AuthorizedParty),
        None if audiences.len() > 1 => Err(IdTokenError::AuthorizedParty),
        _ => Ok(()),
    }
}

/// The groups claim as a list of names; absent means no group.
fn groups(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, IdTokenError> {
    match claims.get(claim) {
        None => Ok(Vec::new()),
        Some(Value::Array(names)) => names
            .iter()
            .map(|name| name.as_str().map(str::to_owned).ok_or_else(|| invalid(claim)))
            .collect(),
        Some(_) => Err(invalid(claim)),
    }
}

fn invalid(claim: &str) -> IdTokenError {
    IdTokenError::InvalidClaim(claim.to_owned())
}

fn required_string<'c>(claims: &'c Map<String, Value>, claim: &'static str) -> Result<&'c str, IdTokenError> {
    optional_string(claims, claim)?.ok_or(IdTokenError::MissingClaim(claim))
}

fn optional_string<'c>(claims: &'c Map<String, Value>, claim: &str) -> Result<Option<&'c str>, IdTokenError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(invalid(claim)),
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
fn required_number(claims: &Map<String, Value>, claim: &'static str) -> Result<f64, IdTokenError> {
    match claims.get(claim) {
        None => Err(IdTokenError::MissingClaim(claim)),
        Some(value) => value.as_f64().ok_or_else(|| invalid(claim)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::oidc::jwks::JwkSet;
    use std::sync::OnceLock;

    /// Tokens signed once by a fixed key (tests/fixtures/oidc/make_tokens.py), each checked at the
    /// fixture's `now`.
    struct Fixture {
        issuer: String,
        client_id: String,
        nonce: String,
        now: u64,
        keys: Jwks,
        tokens: Map<String, Value>,
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let json: Value = serde_json::from_str(include_str!("../../../tests/fixtures/oidc/tokens.json"))
                .expect("fixture");
            let text = |name: &str| json[name].as_str().expect(name).to_owned();
            let set: JwkSet = serde_json::from_value(json["jwks"].clone()).expect("jwks");
            Fixture {
                issuer: text("issuer"),
                client_id: text("client_id"),
                nonce: text("nonce"),
                now: json["now"].as_u64().expect("now"),
                keys: Jwks::from(set),
                tokens: json["tokens"].as_object().expect("tokens").clone(),
            }
        })
    }

    fn token(name: &str) -> &'static str {
        fixture().tokens[name].as_str().expect(name)
    }

    fn check_with(name: &str, groups_claim: &str, nonce: &str, now: u64) -> Result<Identity, IdTokenError> {
        let fixture = fixture();
        let expected = Expected {
            issuer: &fixture.issuer,
            client_id: &fixture.client_id,
            nonce,
            groups_claim,
        };
        verify(token(name), &fixture.keys, &expected, now)
    }

    fn check(name: &str) -> Result<Identity, IdTokenError> {
        check_with(name, "groups", &fixture().nonce, fixture().now)
    }

    fn acme_admin(groups: &[&str]) -> Identity {
        Identity {
            subject: String::from("acme-admin"),
            email: Some(String::from("acme-admin@example.test")),
            name: Some(String::from("Acme Admin")),
            groups: groups.iter().map(|group| group.to_string()).collect(),
        }
    }

    #[test]
    fn a_good_token_gives_the_identity_and_groups() {
        assert_eq!(
            check("good"),
            Ok(acme_admin(&["scim-tenant-acme", "scim-operators"]))
        );
        assert_eq!(check("aud_string"), check("good"));
        assert_eq!(
            check("no_name_no_email"),
            Ok(Identity {
                email: None,
                name: None,
                ..acme_admin(&["scim-tenant-acme", "scim-operators"])
            })
        );
    }

    #[test]
    fn a_cognito_token_has_its_groups_in_cognito_groups_and_is_an_id_token() {
        let fixture = fixture();
        assert_eq!(
            check_with("cognito", "cognito:groups", &fixture.nonce, fixture.now),
            Ok(acme_admin(&["scim-operators"]))
        );
        // Read with Canaille's claim name, the same token has no group.
        assert_eq!(check("cognito"), Ok(acme_admin(&[])));
    }

    #[test]
    fn the_groups_claim_absent_is_no_group_and_not_a_list_of_names_is_refused() {
        assert_eq!(check("groups_absent"), Ok(acme_admin(&[])));
        let not_groups = Err(IdTokenError::InvalidClaim(String::from("groups")));
        assert_eq!(check("groups_not_array"), not_groups);
        assert_eq!(check("groups_not_strings"), not_groups);
    }

    #[test]
    fn the_signature_must_be_by_the_named_key_over_these_bytes() {
        assert_eq!(check("wrong_signature"), Err(IdTokenError::BadSignature));
        // The good token's signature over other claims.
        assert_eq!(check("tampered"), Err(IdTokenError::BadSignature));
        // A key id of the set whose key is for encryption, not signatures.
        assert_eq!(
            check("enc_key"),
            Err(IdTokenError::UnknownKey(String::from("enc-key")))
        );
        assert_eq!(
            check("unknown_kid"),
            Err(IdTokenError::UnknownKey(String::from("rotated-key")))
        );
        assert_eq!(check("no_kid"), Err(IdTokenError::NoKeyId));
    }

    #[test]
    fn only_rs256_is_accepted() {
        assert_eq!(
            check("alg_none"),
            Err(IdTokenError::Algorithm(String::from("none")))
        );
        // HMAC keyed with the public key: the classic algorithm confusion.
        assert_eq!(
            check("hs256"),
            Err(IdTokenError::Algorithm(String::from("HS256")))
        );
        // A good signature by the right key, with another algorithm (Canaille's default).
        assert_eq!(
            check("rs512"),
            Err(IdTokenError::Algorithm(String::from("RS512")))
        );
        assert_eq!(check("crit"), Err(IdTokenError::CriticalHeader));
    }

    #[test]
    fn the_issuer_and_audience_must_be_ours() {
        let issuer = format!("{}/other", fixture().issuer);
        assert_eq!(check("wrong_iss"), Err(IdTokenError::Issuer(issuer)));
        assert_eq!(check("wrong_aud"), Err(IdTokenError::Audience));
    }

    #[test]
    fn several_audiences_need_azp_naming_this_client() {
        assert_eq!(
            check("several_aud_azp_ok"),
            Ok(acme_admin(&["scim-tenant-acme", "scim-operators"]))
        );
        assert_eq!(check("several_aud_no_azp"), Err(IdTokenError::AuthorizedParty));
        assert_eq!(check("several_aud_azp_other"), Err(IdTokenError::AuthorizedParty));
        assert_eq!(check("azp_other"), Err(IdTokenError::AuthorizedParty));
    }

    #[test]
    fn exp_and_iat_are_checked_with_a_minute_of_leeway() {
        let now = fixture().now;
        assert_eq!(
            check("expired"),
            Err(IdTokenError::Expired {
                exp: (now - 61) as f64,
                now
            })
        );
        assert!(check("expired_within_leeway").is_ok());
        assert_eq!(
            check("iat_future"),
            Err(IdTokenError::IssuedInFuture {
                iat: (now + 61) as f64,
                now
            })
        );
        assert!(check("iat_future_within_leeway").is_ok());
        assert_eq!(check("no_exp"), Err(IdTokenError::MissingClaim("exp")));
    }

    #[test]
    fn the_good_token_expires_with_time() {
        let fixture = fixture();
        let check_at = |now| check_with("good", "groups", &fixture.nonce, now);
        // exp is now + 3600; the leeway adds a minute.
        assert!(check_at(fixture.now + 3659).is_ok());
        assert!(matches!(
            check_at(fixture.now + 3660),
            Err(IdTokenError::Expired { .. })
        ));
        // iat is now - 10.
        assert!(check_at(fixture.now - 70).is_ok());
        assert!(matches!(
            check_at(fixture.now - 71),
            Err(IdTokenError::IssuedInFuture { .. })
        ));
    }

    #[test]
    fn the_nonce_must_be_this_sign_ins() {
        let fixture = fixture();
        assert_eq!(
            check_with("good", "groups", "another-nonce", fixture.now),
            Err(IdTokenError::Nonce)
        );
        assert_eq!(check("wrong_nonce"), Err(IdTokenError::Nonce));
        assert_eq!(check("no_nonce"), Err(IdTokenError::MissingClaim("nonce")));
    }

    #[test]
    fn a_cognito_access_token_is_not_an_id_token() {
        assert_eq!(
            check("token_use_access"),
            Err(IdTokenError::TokenUse(String::from("access")))
        );
    }

    #[test]
    fn a_token_without_a_subject_is_refused() {
        assert_eq!(check("no_sub"), Err(IdTokenError::MissingClaim("sub")));
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_key_is_needed() {
        let fixture = fixture();
        let expected = Expected {
            issuer: &fixture.issuer,
            client_id: &fixture.client_id,
            nonce: &fixture.nonce,
            groups_claim: "groups",
        };
        let good = token("good");
        let (head, _) = good.rsplit_once('.').expect("three parts");
        for malformed in [
            "",
            "a.b",
            "a.b.c.d.e",
            &format!("{good}.extra"),
            &format!("{head}.not*base64"),
            "bm90IGpzb24.e30.AA",
        ] {
            assert!(
                matches!(
                    verify(malformed, &fixture.keys, &expected, fixture.now),
                    Err(IdTokenError::Malformed(_))
                ),
                "{malformed}"
            );
        }
        assert_eq!(
            check("payload_not_json"),
            Err(IdTokenError::Malformed("the claims are not a JSON object"))
        );
    }

    #[test]
    fn errors_say_what_failed_without_the_token() {
        let good = token("good");
        for name in ["wrong_signature", "expired", "wrong_nonce", "hs256", "wrong_iss"] {
            let error = check(name).expect_err(name).to_string();
            assert!(!error.contains(&fixture().nonce), "{error}");
            for part in good.split('.') {
                assert!(!error.contains(part), "{error}");
            }
        }
    }
}
