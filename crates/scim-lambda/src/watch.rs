//! The silence watcher (`SCIM_FUNCTION=watch`; template.yaml runs it every 15 minutes): which
//! tenants that asked for it (`silence_alarm_hours`) have heard nothing from their IdP for that
//! long. Entra, Okta and SailPoint sync on a schedule, so a tenant that goes quiet usually has a
//! broken sync (a token expired or replaced, the app disabled), which nobody would otherwise see.
//!
//! A tenant's last activity is the newest `last_used` of its tokens ([`TokenUse`], which the
//! service records at most once a minute per token), or, while none of them was ever used, the
//! creation of its newest token. Each run prints the EMF metric [`SILENT_TENANTS`] (0 too, so the
//! alarm always has data) and one JSON line per silent tenant naming it, its silence, its
//! threshold, its last use and its tokens.
//!
//! The work is bounded: the tenants are those the token registry has tokens for (one registry
//! read); per tenant one settings read (one GetItem) and, only where the setting is on, one read
//! of its token uses (one Query).

use crate::telemetry;
use futures_util::stream::{self, StreamExt};
use scim_auth::{RegistryDocument, RegistryLocation, TokenRegistry, TokenState};
use scim_store::{parse_timestamp, timestamp, Store, StoreError, TenantId, TokenUse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The metric (namespace [`telemetry::METRICS_NAMESPACE`], no dimensions) counting silent
/// tenants; template.yaml's `TenantSilenceAlarm` watches it by this name.
pub const SILENT_TENANTS: &str = "SilentTenants";
/// The `message` of the line naming a silent tenant (the alarm's description searches for it).
pub const SILENT_TENANT_MESSAGE: &str = "tenant silent";
/// Tenants whose settings and token uses are read at once.
const CONCURRENT_TENANTS: usize = 8;

/// A tenant's tokens in the registry, revoked ones left out: revoking every token of a tenant is
/// how an operator ends it, and a tenant nobody can provision is not watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTokens {
    /// Token ids, in registry order.
    pub ids: Vec<String>,
    /// When the newest of them was created: the silence starts there while none was ever used.
    pub newest_created: OffsetDateTime,
}

/// The tenants with a token not revoked at `now`, by name. Expired tokens count: an IdP whose
/// token expired falls silent, which is exactly what the alarm is for.
pub fn registered_tenants(
    document: &RegistryDocument,
    now: OffsetDateTime,
) -> BTreeMap<String, RegisteredTokens> {
    let mut tenants: BTreeMap<String, RegisteredTokens> = BTreeMap::new();
    for token in document
        .tokens
        .iter()
        .filter(|t| t.state(now) != TokenState::Revoked)
    {
        tenants
            .entry(token.tenant.clone())
            .and_modify(|known| {
                known.ids.push(token.id.clone());
                known.newest_created = known.newest_created.max(token.created);
            })
            .or_insert_with(|| RegisteredTokens {
                ids: vec![token.id.clone()],
                newest_created: token.created,
            });
    }
    tenants
}

/// A silent tenant, as its log line names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub tenant: String,
    /// Hours since the last activity, to a tenth.
    pub hours_silent: f64,
    pub threshold_hours: u32,
    /// The newest use of any of the tenant's tokens; `None`: none was ever used.
    pub last_used: Option<String>,
    pub token_ids: Vec<String>,
}

/// Whether a tenant is silent at `now`: its last activity is `threshold_hours` or more ago. A use
/// whose time cannot be read is passed over (the service writes them; a bad one is not activity).
pub fn silence(
    tenant: &str,
    tokens: &RegisteredTokens,
    uses: &[TokenUse],
    threshold_hours: u32,
    now: OffsetDateTime,
) -> Option<Silence> {
    let last_used = uses.iter().filter_map(|u| parse_timestamp(&u.last_used)).max();
    let since = last_used.unwrap_or(tokens.newest_created);
    let hours = (now - since).as_seconds_f64() / 3600.0;
    (hours >= f64::from(threshold_hours)).then(|| Silence {
        tenant: tenant.to_string(),
        hours_silent: (hours * 10.0).round() / 10.0,
        threshold_hours,
        last_used: last_used.map(timestamp),
        token_ids: tokens.ids.clone(),
    })
}

/// What one run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Tenants whose settings were read.
    pub tenants: usize,
    /// Of those, the tenants with the alarm on (whose token uses were read).
    pub watched: usize,
    /// The silent ones, in tenant order.
    pub silent: Vec<Silence>,
    /// Tenants that could not be checked, with the reason.
    pub failed: Vec<(String, String)>,
}

impl Report {
    /// What the run prints: the metric line, then one line per silent tenant.
    pub fn lines(&self, timestamp_ms: u64) -> Vec<String> {
        let count = u64::try_from(self.silent.len()).unwrap_or(u64::MAX);
        let mut lines = vec![telemetry::metric_line(
            SILENT_TENANTS,
            "Count",
            count.into(),
            Map::new(),
            timestamp_ms,
        )];
        lines.extend(self.silent.iter().map(|s| {
            let mut line = json!({"message": SILENT_TENANT_MESSAGE});
            if let (Value::Object(line), Ok(Value::Object(fields))) = (&mut line, serde_json::to_value(s)) {
                line.extend(fields);
            }
            line.to_string()
        }));
        lines
    }
}

/// How one tenant's check ended.
enum TenantCheck {
    /// The setting is off: nothing more was read.
    Off,
    Watched(Option<Silence>),
}

async fn check_tenant(
    store: &dyn Store,
    name: &str,
    tokens: &RegisteredTokens,
    now: OffsetDateTime,
) -> Result<TenantCheck, StoreError> {
    let tenant = TenantId::new(name)?;
    let Some(threshold) = store.settings(&tenant).await?.settings.silence_alarm_hours else {
        return Ok(TenantCheck::Off);
    };
    let uses = store.token_uses(&tenant).await?;
    Ok(TenantCheck::Watched(silence(name, tokens, &uses, threshold, now)))
}

/// One run: the registry's tenants, each checked against its own setting. A tenant that cannot
/// be read is reported in [`Report::failed`] and the others are still checked; a registry that
/// cannot be read fails the run.
pub async fn check(
    registry: &dyn TokenRegistry,
    store: &dyn Store,
    now: OffsetDateTime,
) -> Result<Report, String> {
    let document = registry
        .load()
        .await
        .map_err(|e| format!("the token registry: {e}"))?
        .document;
    let tenants = registered_tenants(&document, now);
    let outcomes: Vec<_> = stream::iter(&tenants)
        .map(|(name, tokens)| async move { (name, check_tenant(store, name, tokens, now).await) })
        .buffered(CONCURRENT_TENANTS)
        .collect()
        .await;
    let mut report = Report::default();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(TenantCheck::Off) => report.tenants += 1,
            Ok(TenantCheck::Watched(silent)) => {
                report.tenants += 1;
                report.watched += 1;
                report.silent.extend(silent);
            }
            Err(e) => report.failed.push((name.clone(), e.to_string())),
        }
    }
    Ok(report)
}

/// The `watch` function: each scheduled invocation (an EventBridge event, whose content does not
/// matter) runs [`check`] and prints its lines. A tenant that could not be checked fails the
/// invocation after the lines are printed, so the watcher's Errors alarm says so.
pub async fn run_watch_function(table: String, token_registry: RegistryLocation) -> Result<(), String> {
    use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
    let aws = scim_aws::Aws::environment();
    let registry = token_registry.open(&aws).await;
    let schemas = std::sync::Arc::new(scim_proto::SchemaRegistry::standard());
    let store = scim_dynamodb::DynamoStore::from_aws(&aws, table, schemas).await;
    let (registry, store) = (registry.as_ref(), &store);
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = check(registry, store, OffsetDateTime::now_utc()).await?;
        for line in report.lines(telemetry::now_ms()) {
            // stdout, one line each: CloudWatch Logs reads the metric and the JSON fields from it.
            println!("{line}");
        }
        tracing::info!(
            tenants = report.tenants,
            watched = report.watched,
            silent = report.silent.len(),
            failed = report.failed.len(),
            "silence check"
        );
        if report.failed.is_empty() {
            return Ok::<_, Error>(json!({"tenants": report.tenants, "silent": report.silent.len()}));
        }
        for (tenant, error) in &report.failed {
            tracing::error!(tenant = %tenant, error = %error, "cannot check the tenant's silence");
        }
        Err(format!("{} tenant(s) could not be checked", report.failed.len()).into())
    }))
    .await
    .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use scim_auth::TokenRecord;
    use time::Duration;

    fn at(hours_ago: f64, now: OffsetDateTime) -> OffsetDateTime {
        now - Duration::seconds_f64(hours_ago * 3600.0)
    }

    fn token(id: &str, tenant: &str, created: OffsetDateTime) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            name: id.into(),
            tenant: tenant.into(),
            sha256: "0".repeat(64),
            created,
            expires: created + Duration::days(90),
            revoked: None,
        }
    }

    fn used(token_id: &str, when: OffsetDateTime) -> TokenUse {
        TokenUse {
            token_id: token_id.into(),
            last_used: timestamp(when),
            client: None,
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_tenant_is_silent_from_the_newest_use_of_any_of_its_tokens() {
        let now = now();
        let tokens = RegisteredTokens {
            ids: vec!["old".into(), "new".into()],
            newest_created: at(500.0, now),
        };
        // The older token was used 5 hours ago, the newer 1.5 hours ago: silent for 1.5 hours.
        let uses = [used("old", at(5.0, now)), used("new", at(1.5, now))];
        assert_eq!(silence("t", &tokens, &uses, 2, now), None);
        let silent = silence("t", &tokens, &uses, 1, now).unwrap();
        assert_eq!(
            silent,
            Silence {
                tenant: "t".into(),
                hours_silent: 1.5,
                threshold_hours: 1,
                last_used: Some(timestamp(at(1.5, now))),
                token_ids: vec!["old".into(), "new".into()],
            }
        );
    }

    #[test]
    fn the_threshold_itself_is_silence() {
        let now = now();
        let tokens = RegisteredTokens {
            ids: vec!["a".into()],
            newest_created: at(100.0, now),
        };
        assert!(silence("t", &tokens, &[used("a", at(2.0, now))], 2, now).is_some());
        let just_under = now - Duration::hours(2) + Duration::seconds(1);
        assert!(silence("t", &tokens, &[used("a", just_under)], 2, now).is_none());
    }

    #[test]
    fn a_tenant_never_heard_from_is_silent_from_its_newest_token() {
        let now = now();
        let tokens = RegisteredTokens {
            ids: vec!["a".into()],
            newest_created: at(3.0, now),
        };
        let silent = silence("t", &tokens, &[], 2, now).unwrap();
        assert_eq!((silent.hours_silent, silent.last_used), (3.0, None));
        assert_eq!(silence("t", &tokens, &[], 4, now), None);
        // A use whose time cannot be read is not activity.
        let unreadable = TokenUse {
            token_id: "a".into(),
            last_used: "yesterday".into(),
            client: None,
        };
        assert_eq!(
            silence("t", &tokens, &[unreadable], 2, now).unwrap().last_used,
            None
        );
    }

    #[test]
    fn revoked_tokens_are_not_watched_and_expired_ones_are() {
        let now = now();
        let mut revoked = token("r", "gone", at(1000.0, now));
        revoked.revoked = Some(at(10.0, now));
        let mut expired = token("e", "lapsed", at(3000.0, now));
        expired.expires = at(1.0, now);
        let mut revoked_later = token("later", "acme", at(5.0, now));
        revoked_later.revoked = Some(now + Duration::hours(1));
        let document = RegistryDocument {
            tokens: vec![
                revoked,
                expired,
                token("a1", "acme", at(50.0, now)),
                revoked_later,
                token("a2", "acme", at(20.0, now)),
            ],
            ..RegistryDocument::default()
        };
        let tenants = registered_tenants(&document, now);
        assert_eq!(tenants.keys().collect::<Vec<_>>(), ["acme", "lapsed"]);
        assert_eq!(
            tenants["acme"],
            RegisteredTokens {
                ids: vec!["a1".into(), "later".into(), "a2".into()],
                newest_created: at(5.0, now),
            }
        );
    }

    #[test]
    fn a_run_prints_the_count_even_when_nobody_is_silent_and_one_line_per_silent_tenant() {
        let quiet = Report {
            tenants: 3,
            watched: 1,
            ..Report::default()
        };
        let lines = quiet.lines(1_700_000_000_000);
        assert_eq!(lines.len(), 1);
        let metric: Value = serde_json::from_str(&lines[0]).unwrap();
        let directive = &metric["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ScimService");
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "SilentTenants", "Unit": "Count"}])
        );
        assert_eq!(metric["SilentTenants"], 0);
        assert_eq!(metric["_aws"]["Timestamp"], 1_700_000_000_000u64);

        let silent = Report {
            silent: vec![Silence {
                tenant: "acme".into(),
                hours_silent: 3.2,
                threshold_hours: 2,
                last_used: Some("2026-12-06T01:00:00Z".into()),
                token_ids: vec!["tok1".into()],
            }],
            ..quiet
        };
        let lines = silent.lines(1_700_000_000_000);
        assert_eq!(
            serde_json::from_str::<Value>(&lines[0]).unwrap()["SilentTenants"],
            1
        );
        assert_eq!(
            serde_json::from_str::<Value>(&lines[1]).unwrap(),
            json!({
                "message": "tenant silent",
                "tenant": "acme",
                "hours_silent": 3.2,
                "threshold_hours": 2,
                "last_used": "2026-12-06T01:00:00Z",
                "token_ids": ["tok1"],
            })
        );
    }
}
