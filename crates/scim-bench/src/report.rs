//! The text the bench prints: parameters, one aligned row per scenario, memory, and for the
//! DynamoDB section the calls per store operation.

use crate::args::{Args, DynamoArgs};
use crate::capacity::{Consumed, Reported};
use crate::scenarios::Scenario;
use crate::server::Memory;
use crate::stats::{ms, Summary};
use std::collections::BTreeMap;
use std::time::Duration;

const NAME_WIDTH: usize = 36;
/// Wide enough for "create group with 1000 members (setup, 12.3 s)".
const OPERATION_WIDTH: usize = 50;
/// Wide enough for "BatchGetItem 1 + GetItem 1 + TransactWriteItems 1".
const CALLS_WIDTH: usize = 52;

pub fn parameters(args: &Args, seed_concurrency: usize) {
    println!("scim-bench");
    println!("  server       {}", args.server.display());
    println!(
        "  users        {} (seeded {seed_concurrency} in flight, no password)",
        args.users
    );
    println!(
        "  requests     {} per scenario, capped at {} s",
        args.requests, args.seconds
    );
    println!("  concurrency  {}", args.concurrency);
    println!();
    println!("== embedded store ==");
}

/// The DynamoDB section's heading, with the caveat that belongs next to its figures.
pub fn dynamodb_parameters(dynamo: &DynamoArgs, concurrency: usize) {
    println!();
    println!("== DynamoDB store, against moto (the local emulator) ==");
    println!("  users        {}", dynamo.users);
    println!(
        "  requests     {} per scenario, capped at {} s",
        dynamo.requests, dynamo.seconds
    );
    println!("  concurrency  {concurrency}");
    println!("  NOTE: latency here is moto's, not DynamoDB's: moto is a Python emulator and the bench");
    println!("  serializes its requests. Compare these rows between runs, not with AWS; the calls per");
    println!("  operation below are what carries over to DynamoDB.");
    println!();
}

/// One store operation's DynamoDB calls and the capacity they consumed.
#[derive(Debug)]
pub struct CallsRow {
    pub operation: String,
    /// The measured request this operation serves, if any.
    pub scenario: Option<Scenario>,
    pub calls: BTreeMap<String, u64>,
    pub consumed: Consumed,
}

pub fn calls(rows: &[CallsRow]) {
    println!();
    println!("DynamoDB calls per store operation (in-process DynamoStore, tenant 'default', same table),");
    println!("with ReturnConsumedCapacity=TOTAL set by the bench's client");
    println!(
        "{:<OPERATION_WIDTH$} {:<CALLS_WIDTH$} {:>5} {:>5}  moto reports",
        "operation", "calls", "RRU", "WRU"
    );
    for row in rows {
        println!(
            "{:<OPERATION_WIDTH$} {:<CALLS_WIDTH$} {:>5.1} {:>5.1}  {}",
            row.operation,
            format_calls(&row.calls),
            row.consumed.computed.read,
            row.consumed.computed.write,
            format_capacity(&row.consumed.reported)
        );
    }
    println!("RRU/WRU: DynamoDB's on-demand accounting, computed from the items each call read and");
    println!("wrote (4 KB per read unit, halved for eventually consistent reads; 1 KB per write unit;");
    println!("transactions twice; each item at least one unit; a copy in the by_resource index one more");
    println!("write, and one per sort index entry written or removed, two when lastModified's moves).");
    println!("moto's own ConsumedCapacity is a placeholder (GetItem 0.5, Query 1, one unit per");
    println!("BatchGetItem key, nothing for TransactWriteItems), printed only so that nothing is hidden.");
}

pub fn cost_notes() {
    println!("ms: median latency of the scenario on moto, one request at a time, standing for the");
    println!("function's billed duration (moto answers a call in a few ms, as DynamoDB does in-region;");
    println!("Lambda at this memory has less CPU than this machine, so argon2 on POST takes longer");
    println!("there). bytes: mean response on the wire, for CloudFront's data out. The provisioning");
    println!("log's record of each write (one PutItem) and the token check's marker read (one GetItem");
    println!("per 5 s per instance) are not in the rows. docs/cost.md explains the model.");
}

pub fn seeding(users: usize, groups: usize, elapsed: Duration) {
    let rate = (users + groups) as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "seeded {users} users and {groups} empty group(s) in {:.2} s ({rate:.0} resources/s)",
        elapsed.as_secs_f64()
    );
    println!();
}

pub fn header() {
    println!(
        "{:<NAME_WIDTH$} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8}",
        "scenario", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms"
    );
}

pub fn row(name: &str, s: &Summary) {
    println!(
        "{name:<NAME_WIDTH$} {:>8} {:>6} {:>9.1} {:>8.2} {:>8.2} {:>8.2}",
        s.completed,
        s.errors,
        s.per_second,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

pub fn floor_header(rounds: usize, requests: usize) {
    println!();
    println!("GET /Users/{{id}} against the floor: a bare axum handler in this process that looks the");
    println!("user up in a HashMap and serialises it (no auth, no projection, no request log), serving");
    println!("the same documents; {rounds} alternating rounds of {requests} requests each, same client");
    println!("and concurrency.");
    println!(
        "{:<8} {:>12} {:>12} {:>10} {:>10} {:>7}",
        "round", "ours req/s", "floor req/s", "ours p50", "floor p50", "share"
    );
}

pub fn floor_round(round: usize, ours: &Summary, floor: &Summary, share: f64) {
    println!(
        "{round:<8} {:>12.0} {:>12.0} {:>10.3} {:>10.3} {:>6.1}%",
        ours.per_second,
        floor.per_second,
        ms(ours.p50),
        ms(floor.p50),
        share * 100.0
    );
}

pub fn floor_share(median_share: f64) {
    println!(
        "GET /Users/{{id}} throughput: {:.1}% of the floor (median of the rounds; target at least 75%)",
        median_share * 100.0
    );
}

pub fn memory(pid: u32, memory: Memory) {
    println!();
    println!(
        "server RSS (pid {pid}): peak {:.1} MiB (VmHWM), now {:.1} MiB (VmRSS)",
        mib(memory.peak_kb),
        mib(memory.current_kb)
    );
}

pub fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// `{"GetItem": 1, "UpdateItem": 1}` as `GetItem 1 + UpdateItem 1`.
pub fn format_calls(calls: &BTreeMap<String, u64>) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    calls
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Reported capacity as `BatchGetItem 2.0`, or `-` when no response reported any.
fn format_capacity(units: &Reported) -> String {
    if units.is_empty() {
        return "-".into();
    }
    units
        .iter()
        .map(|(op, u)| format!("{op} {u:.1}"))
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_calls_and_capacity() {
        let calls = BTreeMap::from([("Query".to_string(), 1), ("BatchGetItem".to_string(), 1)]);
        assert_eq!(format_calls(&calls), "BatchGetItem 1 + Query 1");
        assert_eq!(format_calls(&BTreeMap::new()), "none");
        assert_eq!(format_capacity(&Reported::new()), "-");
        assert_eq!(
            format_capacity(&Reported::from([("BatchGetItem".to_string(), 2.0)])),
            "BatchGetItem 2.0"
        );
    }
}
