//! The text the bench prints: parameters, one aligned row per scenario, memory, and for the
//! DynamoDB section the calls per store operation.

use crate::args::{Args, DynamoArgs};
use crate::capacity::Units;
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

/// One store operation's DynamoDB calls and any capacity the responses reported.
#[derive(Debug)]
pub struct CallsRow {
    pub operation: String,
    pub calls: BTreeMap<String, u64>,
    pub capacity: Units,
}

pub fn calls(rows: &[CallsRow]) {
    println!();
    println!("DynamoDB calls per store operation (in-process DynamoStore, tenant 'default', same table)");
    println!(
        "{:<OPERATION_WIDTH$} {:<CALLS_WIDTH$} capacity reported by moto",
        "operation", "calls"
    );
    for row in rows {
        println!(
            "{:<OPERATION_WIDTH$} {:<CALLS_WIDTH$} {}",
            row.operation,
            format_calls(&row.calls),
            format_capacity(&row.capacity)
        );
    }
    println!("Consumed capacity: not reported. The store does not set ReturnConsumedCapacity, so");
    println!("DynamoDB would return none; the last column is what moto volunteers anyway (fixed");
    println!("placeholders such as 1 unit per BatchGetItem key, not DynamoDB's 4 KB read / 1 KB");
    println!("write accounting), shown only so that nothing is hidden.");
}

pub fn seeding(users: usize, elapsed: Duration) {
    let rate = users as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "seeded {users} users in {:.2} s ({rate:.0} users/s)",
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
fn format_calls(calls: &BTreeMap<String, u64>) -> String {
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
fn format_capacity(units: &Units) -> String {
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
        assert_eq!(format_capacity(&Units::new()), "-");
        assert_eq!(
            format_capacity(&Units::from([("BatchGetItem".to_string(), 2.0)])),
            "BatchGetItem 2.0"
        );
    }
}
