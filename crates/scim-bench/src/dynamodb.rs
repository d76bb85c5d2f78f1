//! The DynamoDB section: the same scenarios with the server on the DynamoDB store against moto,
//! then the DynamoDB calls behind each scenario's store operation, counted in-process.
//!
//! moto's latency says nothing about DynamoDB's (it is a single-threaded Python emulator, and the
//! bench serializes its requests), so the table here is for spotting regressions between runs
//! on one machine. The call counts are what carries over to AWS: they set the cost and the
//! latency floor of each operation there. With them, the request units each operation consumes
//! (`capacity.rs`) and the estimated AWS cost per million operations (`cost.rs`).

use crate::args::{Args, DynamoArgs};
use crate::capacity::CapacityLog;
use crate::cost::{self, Measured};
use crate::load::{self, Limits};
use crate::measure::seed_and_measure;
use crate::moto::MotoProcess;
use crate::report;
use crate::rng;
use crate::scenarios::{Fixture, Scenario};
use crate::server::ServerProcess;
use crate::stats::{ms, Summary};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use scim_dynamodb::{create_table_with, CallCounter, DynamoStore};
use scim_proto::filter::Filter;
use scim_proto::SchemaRegistry;
use scim_store::{
    DeleteMode, DeletedUserStore, Expect, Include, MemberChange, Paging, Query, ResourceKind, ResourceStore,
    SettingsStore, TenantId,
};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// moto's region and dummy credentials: moto accepts any, and fixed ones keep the bench's
/// environment (a real profile, real keys) out of the run.
const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "bench";
const SECRET_KEY: &str = "bench";
/// The tenant of the server's bootstrap token.
const TENANT: &str = "default";
/// Members of the group the member PATCHes are measured on (fewer when fewer users are
/// seeded): their calls do not depend on it, which the rows show.
const GROUP_MEMBERS: usize = 1_000;
/// Members the largest member PATCH adds, as IdPs send them when they batch: a few at a time.
const ADDED_MEMBERS: usize = 5;
/// Requests of each scenario sent one at a time, whose median latency is the duration the
/// cost table bills: under concurrency the latency would be mostly waiting for moto.
const SERIAL_REQUESTS: usize = 20;
/// The server's defaults for what a response may carry inline and a page size without `count`.
const MAX_INLINE_MEMBERS: u64 = 10_000;
const PAGE: u64 = 100;

/// Runs the section; returns how many measured requests failed. moto is stopped when `moto`
/// drops and the server when `server` drops (the server first: locals drop in reverse order),
/// on every path out of this function.
pub async fn section(args: &Args, dynamo: &DynamoArgs, seed_concurrency: usize) -> Result<usize, String> {
    report::dynamodb_parameters(dynamo, args.concurrency);
    let started = Instant::now();
    let moto = MotoProcess::start()?;
    let counter = CallCounter::default();
    let capacity = CapacityLog::default();
    let client = client(&moto.endpoint, &counter, &capacity);
    let table = format!("scim-bench-{}", std::process::id());
    // Without the stream: moto copies it on every transaction, which would skew the figures.
    create_table_with(&client, &table, false)
        .await
        .map_err(|e| format!("creating the table {table} in moto: {e}"))?;
    println!(
        "moto at {} with table {table}, ready in {:.1} s",
        moto.endpoint,
        started.elapsed().as_secs_f64()
    );

    let store_env = [
        ("SCIM_STORE", "dynamodb".to_string()),
        ("SCIM_TABLE", table.clone()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        // Region and credentials are given: nothing should ask the EC2 metadata service.
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let mut server = ServerProcess::spawn(&args.server, &store_env)?;
    let limits = Limits {
        requests: dynamo.requests,
        duration: Duration::from_secs(dynamo.seconds),
        concurrency: args.concurrency,
    };
    let member_adds = limits.requests + SERIAL_REQUESTS;
    let run = seed_and_measure(&mut server, dynamo.users, member_adds, seed_concurrency, limits).await?;
    let serial = serial_latencies(&run.fixture, limits).await?;
    // The server is done; stopping it now keeps its requests out of the counts below.
    drop(server);

    counter.take();
    capacity.take();
    let store = DynamoStore::new(client, &table, Arc::new(SchemaRegistry::standard()));
    let calls = CallCounts {
        store: &store,
        counter: &counter,
        capacity: &capacity,
    };
    let rows = calls.run(&run.fixture.ids).await?;
    report::calls(&rows);
    let deployment = cost::deployment_of(TEMPLATE).map_err(|e| format!("template.yaml: {e}"))?;
    print!(
        "\n{}",
        cost::table(&costed(&rows, &serial), &deployment, &cost::US_EAST_1)
    );
    report::cost_notes();
    Ok(run.errors)
}

/// Each scenario again, [`SERIAL_REQUESTS`] requests one at a time: the time one request takes
/// when nothing queues, which is what a Lambda invocation bills. The deletes and member removes
/// undo what this pass's creates and adds made.
async fn serial_latencies(fx: &Arc<Fixture>, limits: Limits) -> Result<Vec<(Scenario, Summary)>, String> {
    // Requests numbered past those of the measured run, so users and memberships are new.
    let fx = Arc::new(Fixture {
        first_request: fx.first_request + limits.requests,
        ..Fixture::clone(fx)
    });
    let serial = Limits {
        requests: SERIAL_REQUESTS,
        concurrency: 1,
        ..limits
    };
    let mut rows = Vec::new();
    for scenario in Scenario::ALL {
        let outcome = load::measure(&fx, scenario, serial, rng::os_seed()?).await?;
        if let Some(e) = outcome.first_error {
            return Err(format!("{} (serial): {e}", scenario.label()));
        }
        if outcome.latencies.is_empty() {
            return Err(format!("{} (serial): nothing left to act on", scenario.label()));
        }
        rows.push((scenario, Summary::of(&outcome)));
    }
    Ok(rows)
}

/// The template the bench was built with: the deployment the cost table prices.
const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The operations with both a measured scenario (its median serial latency on moto standing for
/// the function's duration, its mean response size) and a calls row (its request units).
fn costed(rows: &[report::CallsRow], summaries: &[(Scenario, Summary)]) -> Vec<Measured> {
    rows.iter()
        .filter_map(|row| {
            let scenario = row.scenario?;
            let (_, summary) = summaries.iter().find(|(s, _)| *s == scenario)?;
            Some(Measured {
                operation: scenario.label().to_string(),
                duration_ms: ms(summary.p50),
                units: row.consumed.computed,
                response_bytes: summary.response_bytes,
            })
        })
        .collect()
}

/// A client for moto that counts its calls and collects any reported capacity. Built from
/// explicit settings, not aws-config's environment chain, so nothing in the environment can
/// point it anywhere but moto on loopback.
fn client(endpoint: &str, counter: &CallCounter, capacity: &CapacityLog) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(scim_aws::https_client())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "scim-bench"))
        .interceptor(counter.clone())
        .interceptor(capacity.clone())
        .build();
    Client::from_conf(conf)
}

/// The in-process store on the server's table and tenant, and what counts its calls.
struct CallCounts<'a> {
    store: &'a DynamoStore,
    counter: &'a CallCounter,
    capacity: &'a CapacityLog,
}

impl std::fmt::Debug for CallCounts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCounts").field("store", self.store).finish()
    }
}

impl CallCounts<'_> {
    /// Runs each store operation behind a scenario once, as the service drives it (a PATCH or
    /// PUT is a read, then a write based on the version read; a DELETE reads the tenant's settings for its
    /// delete mode), and returns its calls and capacity. `ids` are the users the server seeded.
    async fn run(&self, ids: &[String]) -> Result<Vec<report::CallsRow>, String> {
        let first = ids.first().ok_or("no users were seeded")?;
        let t = TenantId::new(TENANT).map_err(|e| e.to_string())?;
        let user = ResourceKind::User;
        // As the service asks for users by default: with `groups`.
        let with_groups = Include {
            members: false,
            groups: true,
            member_limit: Some(MAX_INLINE_MEMBERS),
        };
        let mut rows = Vec::new();

        self.reset();
        self.store
            .get(&t, user, first, with_groups)
            .await
            .map_err(|e| format!("get user: {e}"))?;
        rows.push(self.row("get user (GET /Users/{id})", Some(Scenario::GetById)));

        let eq = query(user, "userName eq \"user7@example.com\"", 1, PAGE, with_groups)?;
        self.store
            .query(&t, user, &eq)
            .await
            .map_err(|e| format!("userName eq query: {e}"))?;
        rows.push(self.row("userName eq query", Some(Scenario::FilterEq)));

        let co = query(user, "userName co \"99\"", 1, 10, with_groups)?;
        self.store
            .query(&t, user, &co)
            .await
            .map_err(|e| format!("userName co query: {e}"))?;
        rows.push(self.row("userName co query (page of 10)", Some(Scenario::FilterCo)));

        let created = self
            .store
            .create(&t, user, user_attrs("bench-calls-0"), MemberChange::default())
            .await
            .map_err(|e| format!("create user: {e}"))?;
        rows.push(self.row("create user (POST /Users)", Some(Scenario::Create)));

        self.update_user(&t, &created.id, with_groups, |mut attrs| {
            attrs.insert("displayName".into(), Value::from("Renamed"));
            attrs
        })
        .await?;
        rows.push(self.row("update user (PATCH displayName)", Some(Scenario::Patch)));

        // RFC 7644 §3.5.1: every attribute sent, the display name changed.
        self.update_user(&t, &created.id, with_groups, |_| {
            let mut attrs = user_attrs("bench-calls-0");
            attrs.insert("displayName".into(), Value::from("Replaced"));
            attrs
        })
        .await?;
        rows.push(self.row("replace user (PUT displayName)", Some(Scenario::Replace)));

        let members: Vec<String> = ids.iter().take(GROUP_MEMBERS).cloned().collect();
        let setup = Instant::now();
        let group = self
            .store
            .create(
                &t,
                ResourceKind::Group,
                group_attrs("bench-calls-group"),
                adds(&members),
            )
            .await
            .map_err(|e| format!("creating a group of {}: {e}", members.len()))?;
        rows.push(self.row(
            &format!(
                "create group with {} members (setup, {:.1} s)",
                members.len(),
                setup.elapsed().as_secs_f64()
            ),
            None,
        ));
        let mut outsiders = Vec::with_capacity(ADDED_MEMBERS);
        for i in 1..=ADDED_MEMBERS {
            outsiders.push(self.create_user(&t, &format!("bench-calls-{i}")).await?);
        }
        self.reset();
        let one = &outsiders[..1];
        self.change_members(&t, &group.id, adds(one)).await?;
        rows.push(self.row(
            &format!("add 1 member to a group of {}", members.len()),
            Some(Scenario::AddMember),
        ));
        let remove = MemberChange {
            remove: one.to_vec(),
            ..MemberChange::default()
        };
        self.change_members(&t, &group.id, remove).await?;
        rows.push(self.row(
            &format!("remove 1 member from a group of {}", members.len() + 1),
            Some(Scenario::RemoveMember),
        ));
        self.change_members(&t, &group.id, adds(&outsiders)).await?;
        rows.push(self.row(
            &format!("add {ADDED_MEMBERS} members to a group of {}", members.len()),
            None,
        ));

        // As the service asks for a group read with `excludedAttributes=members` (RFC 7644 §3.9).
        let without_members = Include {
            members: false,
            groups: false,
            member_limit: Some(MAX_INLINE_MEMBERS),
        };
        self.store
            .get(&t, ResourceKind::Group, &group.id, without_members)
            .await
            .map_err(|e| format!("get group: {e}"))?;
        rows.push(self.row(
            &format!("get group of {} without members", members.len() + ADDED_MEMBERS),
            Some(Scenario::GetGroup),
        ));

        self.store
            .create(
                &t,
                ResourceKind::Group,
                group_attrs("bench-calls-empty-group"),
                MemberChange::default(),
            )
            .await
            .map_err(|e| format!("create group: {e}"))?;
        rows.push(self.row(
            "create group without members (POST /Groups)",
            Some(Scenario::CreateGroup),
        ));

        let list = Query {
            filter: None,
            paging: Paging::Index { start_index: 1 },
            count: PAGE,
            include: with_groups,
            sort: None,
        };
        self.store
            .query(&t, user, &list)
            .await
            .map_err(|e| format!("list page: {e}"))?;
        rows.push(self.row(&format!("list page of {PAGE} (GET /Users)"), None));

        let doomed = self.create_user(&t, "bench-calls-delete").await?;
        self.reset();
        let mode = self.delete_user(&t, &doomed).await?;
        rows.push(self.row(&format!("delete user ({mode})"), Some(Scenario::Delete)));

        Ok(rows)
    }

    /// A user in no group, made outside any row.
    async fn create_user(&self, t: &TenantId, name: &str) -> Result<String, String> {
        self.store
            .create(t, ResourceKind::User, user_attrs(name), MemberChange::default())
            .await
            .map(|u| u.id)
            .map_err(|e| format!("creating user {name}: {e}"))
    }

    /// A user PATCH or PUT without `If-Match`, as the service drives it: the user read (with
    /// what the response shows, `include`), then the write of `new_attrs(attributes read)` based
    /// on the version read.
    async fn update_user(
        &self,
        t: &TenantId,
        id: &str,
        include: Include,
        new_attrs: impl FnOnce(Map<String, Value>) -> Map<String, Value>,
    ) -> Result<(), String> {
        let kind = ResourceKind::User;
        let current = self
            .store
            .get(t, kind, id, include)
            .await
            .map_err(|e| format!("update user: reading it: {e}"))?;
        let attrs = new_attrs(current.attrs);
        self.store
            .update(
                t,
                kind,
                id,
                Expect::Based(current.version),
                attrs,
                MemberChange::default(),
            )
            .await
            .map_err(|e| format!("update user: {e}"))?;
        Ok(())
    }

    /// A group PATCH that changes only members, as the service drives it: the group read
    /// without its members, then the write based on the version read.
    async fn change_members(&self, t: &TenantId, group: &str, change: MemberChange) -> Result<(), String> {
        let kind = ResourceKind::Group;
        let current = self
            .store
            .get(t, kind, group, Include::NONE)
            .await
            .map_err(|e| format!("member change: reading the group: {e}"))?;
        self.store
            .update(
                t,
                kind,
                group,
                Expect::Based(current.version),
                current.attrs,
                change,
            )
            .await
            .map_err(|e| format!("member change: {e}"))?;
        Ok(())
    }

    /// A DELETE without `If-Match`, as the service drives it: the tenant's settings read, then
    /// the delete their `delete_mode` names. Returns that mode's name.
    async fn delete_user(&self, t: &TenantId, id: &str) -> Result<&'static str, String> {
        let settings = self
            .store
            .settings(t)
            .await
            .map_err(|e| format!("delete user: reading the settings: {e}"))?
            .settings;
        let deleted = match settings.delete_mode {
            DeleteMode::Soft => {
                let purge_after =
                    scim_store::now() + time::Duration::days(i64::from(settings.retention_days));
                self.store
                    .delete_user_soft(t, id, Expect::Any, purge_after)
                    .await
                    .map(|()| "soft, the default")
            }
            DeleteMode::Hard => self
                .store
                .delete(t, ResourceKind::User, id, Expect::Any)
                .await
                .map(|()| "hard"),
        };
        deleted.map_err(|e| format!("delete user: {e}"))
    }

    fn reset(&self) {
        self.counter.take();
        self.capacity.take();
    }

    /// The calls since the last row (or reset), as one printed row; `scenario` is the measured
    /// request it serves, if any.
    fn row(&self, operation: &str, scenario: Option<Scenario>) -> report::CallsRow {
        report::CallsRow {
            operation: operation.to_string(),
            scenario,
            calls: self.counter.take(),
            consumed: self.capacity.take(),
        }
    }
}

/// A validated filter query with index paging, as the service builds it.
fn query(
    kind: ResourceKind,
    filter: &str,
    start_index: u64,
    count: u64,
    include: Include,
) -> Result<Query, String> {
    let registry = SchemaRegistry::standard();
    let schema = registry
        .view(kind.name())
        .ok_or_else(|| format!("no schema for {}", kind.name()))?;
    let parsed = Filter::parse(filter).map_err(|e| format!("filter '{filter}': {e}"))?;
    parsed
        .validate(&schema)
        .map_err(|e| format!("filter '{filter}': {e}"))?;
    Ok(Query {
        filter: Some(parsed),
        paging: Paging::Index { start_index },
        count,
        include,
        sort: None,
    })
}

/// A user's canonical attributes, as the service hands them to the store after normalising.
fn user_attrs(name: &str) -> Map<String, Value> {
    object(json!({
        "userName": format!("{name}@example.com"),
        "externalId": format!("ext-{name}"),
        "name": { "givenName": "Bench", "familyName": name },
        "displayName": format!("Bench {name}"),
        "active": true,
    }))
}

fn group_attrs(name: &str) -> Map<String, Value> {
    object(json!({ "displayName": name }))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn adds(ids: &[String]) -> MemberChange {
    MemberChange {
        add: ids
            .iter()
            .map(|id| (id.clone(), Some(ResourceKind::User)))
            .collect(),
        ..MemberChange::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scenario has its store operation counted, so the cost table prices each one; on
    /// moto, with a few users made in-process.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_scenario_has_a_costed_calls_row() {
        let moto = MotoProcess::start().unwrap();
        let (counter, capacity) = (CallCounter::default(), CapacityLog::default());
        let client = client(&moto.endpoint, &counter, &capacity);
        create_table_with(&client, "calls", false).await.unwrap();
        let store = DynamoStore::new(client, "calls", Arc::new(SchemaRegistry::standard()));
        let t = TenantId::new(TENANT).unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            let attrs = user_attrs(&format!("seeded-{i}"));
            ids.push(
                store
                    .create(&t, ResourceKind::User, attrs, MemberChange::default())
                    .await
                    .unwrap()
                    .id,
            );
        }
        let calls = CallCounts {
            store: &store,
            counter: &counter,
            capacity: &capacity,
        };
        let rows = calls.run(&ids).await.unwrap();

        for scenario in Scenario::ALL {
            let tied: Vec<_> = rows.iter().filter(|r| r.scenario == Some(scenario)).collect();
            assert_eq!(tied.len(), 1, "{}", scenario.label());
            assert!(!tied[0].calls.is_empty(), "{}", scenario.label());
        }
        let calls_of = |scenario| {
            let row = rows.iter().find(|r| r.scenario == Some(scenario)).unwrap();
            report::format_calls(&row.calls)
        };
        // A PUT stores what a PATCH does: the user read, then the write based on its version.
        assert_eq!(calls_of(Scenario::Replace), calls_of(Scenario::Patch));
        // The group read without members, then one transaction (RFC 7644 §3.5.2 PATCH).
        assert_eq!(calls_of(Scenario::AddMember), calls_of(Scenario::RemoveMember));
        // The group item alone, whatever the group's size.
        assert_eq!(calls_of(Scenario::GetGroup), "GetItem 1");
        // The tenant's settings, for the delete mode, then the soft delete.
        assert!(calls_of(Scenario::Delete).contains("GetItem"));

        let summary = |_| Summary {
            completed: 1,
            errors: 0,
            per_second: 1.0,
            p50: Duration::from_millis(4),
            p99: Duration::from_millis(4),
            max: Duration::from_millis(4),
            response_bytes: 100.0,
        };
        let summaries: Vec<_> = Scenario::ALL.iter().map(|s| (*s, summary(s))).collect();
        let costed = costed(&rows, &summaries);
        let labels: Vec<_> = costed.iter().map(|m| m.operation.as_str()).collect();
        assert_eq!(labels, Scenario::ALL.map(Scenario::label));
        assert!(costed.iter().all(|m| m.units.read + m.units.write > 0.0));
    }

    #[test]
    fn builds_the_scenario_queries() {
        let q = query(ResourceKind::User, "userName co \"99\"", 1, 10, Include::NONE).unwrap();
        assert_eq!((q.count, q.paging), (10, Paging::Index { start_index: 1 }));
        assert!(query(ResourceKind::User, "nosuch eq 1", 1, 10, Include::NONE).is_err());
    }
}
