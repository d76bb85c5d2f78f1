//! One soak client: an IdP alone in its tenant, sending one request at a time, keeping the
//! ledger of what it wrote, and at the end reading everything back.

use super::idp::Idp;
use super::junk::{Junk, RefusedTokens};
use super::ledger::{group_mismatch, user_mismatch, ExpectedGroup, Ledger};
use super::tally::Tally;
use crate::client::{Answer, Scim};
use crate::rng::Rng;
use crate::scenarios::percent_encode;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tenant's users stay between these bounds: enough to pick from, few enough that the
/// server's working set stops growing after warm-up.
const MIN_USERS: usize = 10;
const MAX_USERS: usize = 150;
const MAX_GROUPS: usize = 8;
/// Members a member PATCH adds or removes at most, as IdPs send them: a few at a time.
const MEMBERS_PER_PATCH: usize = 3;
/// 429s one request may get in a row, each waited out, before it counts as a failure.
const MAX_THROTTLED: usize = 5;
/// The longest Retry-After honoured; a longer one is waited this long.
const LONGEST_WAIT: Duration = Duration::from_secs(5);
/// How long the read-back of one tenant may take before it is cut short (and fails).
const READ_BACK_WITHIN: Duration = Duration::from_secs(120);

/// The run's shared bounds: a request count and a deadline, whichever comes first, and the
/// pace of each client.
#[derive(Debug)]
pub struct Budget {
    taken: AtomicUsize,
    requests: usize,
    deadline: Instant,
    /// The time between one client's actions.
    pace: Duration,
}

impl Budget {
    pub fn new(requests: usize, deadline: Instant, per_client_rate: u32) -> Self {
        Self {
            taken: AtomicUsize::new(0),
            requests,
            deadline,
            pace: Duration::from_secs(1) / per_client_rate.max(1),
        }
    }

    /// Takes one request from the budget; `false` once the run is over.
    fn take(&self) -> bool {
        Instant::now() < self.deadline && self.taken.fetch_add(1, Ordering::Relaxed) < self.requests
    }
}

/// What the soak does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CreateUser,
    GetUser,
    LookUpUser,
    ListUsers,
    ListGroups,
    UpdateUser,
    ToggleActive,
    DeleteUser,
    CreateGroup,
    GetGroup,
    ChangeMembers,
    RenameGroup,
    DeleteGroup,
    Junk,
}

/// How a request ended, for the ledger.
enum Reply {
    /// The expected status: the write happened.
    Expected(Answer),
    /// Another 4xx: nothing was written (the service never writes part of a refused request).
    Refused,
    /// A 5xx, no answer, or throttled past the limit: the write may or may not have happened.
    Unknown,
}

/// One client and everything it has seen.
pub struct Player {
    idp: Idp,
    pub tenant: String,
    scim: Scim,
    refused: Arc<RefusedTokens>,
    budget: Arc<Budget>,
    rng: Rng,
    /// Numbers new users and groups.
    created: usize,
    pub ledger: Ledger,
    pub tally: Tally,
}

impl Player {
    pub fn new(
        idp: Idp,
        tenant: String,
        scim: Scim,
        refused: Arc<RefusedTokens>,
        budget: Arc<Budget>,
        seed: u64,
    ) -> Self {
        Self {
            idp,
            tenant,
            scim,
            refused,
            budget,
            rng: Rng::new(seed),
            created: 0,
            ledger: Ledger::default(),
            tally: Tally::default(),
        }
    }

    /// Plays until the budget is spent, starting an action every `pace` (or as soon as the
    /// previous one ends, when the server is slower than that).
    pub async fn play(mut self) -> Self {
        let mut ticks = tokio::time::interval(self.budget.pace);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if !self.budget.take() {
                return self;
            }
            let action = self.pick();
            self.act(action).await;
        }
    }

    /// A weighted random action among those the tenant's state allows.
    fn pick(&mut self) -> Action {
        let users = self.ledger.users.len();
        let groups = self.ledger.groups.len();
        if users < MIN_USERS {
            return Action::CreateUser;
        }
        let weights = [
            (Action::CreateUser, if users < MAX_USERS { 10 } else { 0 }),
            (Action::GetUser, 12),
            (Action::LookUpUser, 8),
            (Action::ListUsers, 3),
            (Action::ListGroups, 2),
            (Action::UpdateUser, 15),
            (Action::ToggleActive, 10),
            (Action::DeleteUser, self.idp.delete_weight()),
            (Action::CreateGroup, if groups < MAX_GROUPS { 2 } else { 0 }),
            (Action::GetGroup, if groups > 0 { 4 } else { 0 }),
            (Action::ChangeMembers, if groups > 0 { 12 } else { 0 }),
            (Action::RenameGroup, if groups > 0 { 2 } else { 0 }),
            (Action::DeleteGroup, if groups > 2 { 1 } else { 0 }),
            (Action::Junk, 12),
        ];
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        // usize from u32 is lossless on every supported target.
        let mut roll = self.rng.below(total as usize) as u32;
        for (action, weight) in weights {
            if roll < weight {
                return action;
            }
            roll -= weight;
        }
        Action::GetUser
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::CreateUser => self.create_user().await,
            Action::GetUser => {
                let id = self.any_user();
                self.check_user(&id, "user GET").await;
            }
            Action::LookUpUser => self.look_up_user().await,
            Action::ListUsers => self.check_total("/Users", "user list").await,
            Action::ListGroups => self.check_total("/Groups", "group list").await,
            Action::UpdateUser => self.update_user().await,
            Action::ToggleActive => self.toggle_active().await,
            Action::DeleteUser => self.delete_user().await,
            Action::CreateGroup => self.create_group().await,
            Action::GetGroup => {
                let id = self.any_group();
                self.check_group(&id, "group GET").await;
            }
            Action::ChangeMembers => self.change_members().await,
            Action::RenameGroup => self.rename_group().await,
            Action::DeleteGroup => self.delete_group().await,
            Action::Junk => self.junk().await,
        }
    }

    async fn create_user(&mut self) {
        self.created += 1;
        let n = self.created;
        let user = self.idp.new_user(n);
        if self.idp.looks_up_before_create() && self.look_up(&user.user_name, None).await.is_none() {
            return;
        }
        let body = self.idp.create_body(&user, n);
        let reply = self
            .call("user POST", true, &[201], |s| {
                s.request(Method::POST, "/Users").json(&body)
            })
            .await;
        let Reply::Expected(answer) = reply else {
            // Without an id there is nothing to forget; a lost create shows in the list totals,
            // which are not checked once anything is uncertain.
            if matches!(reply, Reply::Unknown) {
                self.ledger.uncertain.insert(user.user_name);
            }
            return;
        };
        match json(&answer)["id"].as_str() {
            Some(id) => {
                self.ledger.users.insert(id.to_string(), user);
                self.ledger.writes += 1;
            }
            None => self.tally.fail(format!("{}: 201 without an id", answer.what)),
        }
    }

    /// `GET /Users?filter=userName eq "..."`; checks that it finds `expected_id` (or nothing).
    /// `None` when the request failed.
    async fn look_up(&mut self, user_name: &str, expected_id: Option<&str>) -> Option<()> {
        let filter = percent_encode(&format!("userName eq \"{user_name}\""));
        let path = format!("/Users?filter={filter}");
        let Reply::Expected(answer) = self
            .call("user lookup (filter eq)", true, &[200], |s| {
                s.request(Method::GET, &path)
            })
            .await
        else {
            return None;
        };
        let list = json(&answer);
        let found: Vec<&str> = list["Resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_str())
            .collect();
        if found != expected_id.into_iter().collect::<Vec<_>>() || list["totalResults"] != found.len() {
            self.tally.fail(format!(
                "[{}] lookup of {user_name} found {found:?} (totalResults {}), the ledger says {expected_id:?}",
                self.tenant, list["totalResults"]
            ));
        }
        Some(())
    }

    async fn look_up_user(&mut self) {
        let id = self.any_user();
        if let Some(user_name) = self.ledger.users.get(&id).map(|u| u.user_name.clone()) {
            self.look_up(&user_name, Some(&id)).await;
        }
    }

    /// `GET /Users/{id}`, compared with the ledger.
    async fn check_user(&mut self, id: &str, class: &'static str) {
        let Some(expected) = self.ledger.users.get(id).cloned() else {
            return;
        };
        let path = format!("/Users/{id}");
        if let Reply::Expected(answer) = self
            .call(class, true, &[200], |s| s.request(Method::GET, &path))
            .await
        {
            if let Some(why) = user_mismatch(&expected, &json(&answer)) {
                self.tally
                    .fail(format!("[{}] lost write on user {id}: {why}", self.tenant));
            }
        }
    }

    async fn check_group(&mut self, id: &str, class: &'static str) {
        let Some(expected) = self.ledger.groups.get(id).cloned() else {
            return;
        };
        let path = format!("/Groups/{id}");
        if let Reply::Expected(answer) = self
            .call(class, true, &[200], |s| s.request(Method::GET, &path))
            .await
        {
            if let Some(why) = group_mismatch(&expected, &json(&answer), &self.ledger.uncertain) {
                self.tally
                    .fail(format!("[{}] lost write on group {id}: {why}", self.tenant));
            }
        }
    }

    /// A list page's `totalResults` against the ledger: no ghosts, no losses, no other tenant's
    /// resources. Skipped once an outcome is uncertain.
    async fn check_total(&mut self, resource: &str, class: &'static str) {
        let path = format!("{resource}?startIndex=1&count=10");
        let Reply::Expected(answer) = self
            .call(class, true, &[200], |s| s.request(Method::GET, &path))
            .await
        else {
            return;
        };
        let expected = if resource == "/Users" {
            self.ledger.users.len()
        } else {
            self.ledger.groups.len()
        };
        let total = json(&answer)["totalResults"].clone();
        if self.ledger.uncertain.is_empty() && total != expected {
            self.tally.fail(format!(
                "[{}] GET {resource} totalResults {total}, the ledger holds {expected}",
                self.tenant
            ));
        }
    }

    async fn update_user(&mut self) {
        let id = self.any_user();
        let Some(user) = self.ledger.users.get(&id).cloned() else {
            return;
        };
        let n = self.rng.below(1_000_000);
        let (method, body, after) = self.idp.update(&user, n);
        let class = if method == Method::PUT {
            "user PUT"
        } else {
            "user PATCH"
        };
        self.write_user(&id, class, method, body, after).await;
    }

    async fn toggle_active(&mut self) {
        let id = self.any_user();
        let Some(user) = self.ledger.users.get(&id).cloned() else {
            return;
        };
        let (method, body, after) = self.idp.set_active(&user, !user.active);
        let class = if user.active {
            "user deactivate"
        } else {
            "user reactivate"
        };
        self.write_user(&id, class, method, body, after).await;
    }

    async fn write_user(
        &mut self,
        id: &str,
        class: &'static str,
        method: Method,
        body: Value,
        after: super::ledger::ExpectedUser,
    ) {
        let path = format!("/Users/{id}");
        let reply = self
            .call(class, true, &[200], |s| {
                s.request(method.clone(), &path).json(&body)
            })
            .await;
        match reply {
            Reply::Expected(answer) => {
                // The answer is the resource after the write (RFC 7644 §3.5.1, §3.5.2).
                if let Some(why) = user_mismatch(&after, &json(&answer)) {
                    self.tally
                        .fail(format!("[{}] {class} answered a user that {why}", self.tenant));
                }
                self.ledger.users.insert(id.to_string(), after);
                self.ledger.writes += 1;
            }
            Reply::Refused => {}
            Reply::Unknown => self.ledger.forget(id),
        }
    }

    async fn delete_user(&mut self) {
        let id = self.any_user();
        let path = format!("/Users/{id}");
        match self
            .call("user DELETE", true, &[204], |s| s.request(Method::DELETE, &path))
            .await
        {
            Reply::Expected(_) => {
                self.ledger.delete_user(&id);
                self.ledger.writes += 1;
            }
            Reply::Refused => {}
            Reply::Unknown => self.ledger.forget(&id),
        }
    }

    async fn create_group(&mut self) {
        self.created += 1;
        let name = format!("{} group {}", self.idp.name(), self.created);
        let members: Vec<String> = if self.idp.creates_groups_with_members() {
            self.some_users(MEMBERS_PER_PATCH)
        } else {
            Vec::new()
        };
        let body = self.idp.create_group(&name, &members);
        let reply = self
            .call("group POST", true, &[201], |s| {
                s.request(Method::POST, "/Groups").json(&body)
            })
            .await;
        match reply {
            Reply::Expected(answer) => match json(&answer)["id"].as_str() {
                Some(id) => {
                    let group = ExpectedGroup {
                        display_name: name,
                        members: members.into_iter().collect(),
                    };
                    self.ledger.groups.insert(id.to_string(), group);
                    self.ledger.writes += 1;
                }
                None => self.tally.fail(format!("{}: 201 without an id", answer.what)),
            },
            Reply::Refused => {}
            Reply::Unknown => {
                self.ledger.uncertain.insert(name);
            }
        }
    }

    async fn change_members(&mut self) {
        let id = self.any_group();
        let Some(group) = self.ledger.groups.get(&id).cloned() else {
            return;
        };
        let add: Vec<String> = self
            .some_users(MEMBERS_PER_PATCH)
            .into_iter()
            .filter(|u| !group.members.contains(u))
            .collect();
        let current: Vec<&String> = group.members.iter().collect();
        let remove: Vec<String> = (0..self.rng.below(MEMBERS_PER_PATCH).min(current.len()))
            .map(|_| current[self.rng.below(current.len())].clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if add.is_empty() && remove.is_empty() {
            return;
        }
        let body = self.idp.change_members(&add, &remove);
        let mut after = group;
        after.members.retain(|m| !remove.contains(m));
        after.members.extend(add);
        self.write_group(&id, "group member PATCH", body, after).await;
    }

    async fn rename_group(&mut self) {
        let id = self.any_group();
        let Some(group) = self.ledger.groups.get(&id).cloned() else {
            return;
        };
        self.created += 1;
        let name = format!("{} group {}", self.idp.name(), self.created);
        let body = self.idp.rename_group(&id, &name);
        let after = ExpectedGroup {
            display_name: name,
            ..group
        };
        self.write_group(&id, "group rename PATCH", body, after).await;
    }

    /// A group PATCH: 204 with no body, or 200 with the group (RFC 7644 §3.5.2 allows either).
    async fn write_group(&mut self, id: &str, class: &'static str, body: Value, after: ExpectedGroup) {
        let path = format!("/Groups/{id}");
        match self
            .call(class, true, &[200, 204], |s| {
                s.request(Method::PATCH, &path).json(&body)
            })
            .await
        {
            Reply::Expected(_) => {
                self.ledger.groups.insert(id.to_string(), after);
                self.ledger.writes += 1;
            }
            Reply::Refused => {}
            Reply::Unknown => self.ledger.forget(id),
        }
    }

    async fn delete_group(&mut self) {
        let id = self.any_group();
        let path = format!("/Groups/{id}");
        match self
            .call("group DELETE", true, &[204], |s| s.request(Method::DELETE, &path))
            .await
        {
            Reply::Expected(_) => {
                self.ledger.delete_group(&id);
                self.ledger.writes += 1;
            }
            Reply::Refused => {}
            Reply::Unknown => self.ledger.forget(&id),
        }
    }

    async fn junk(&mut self) {
        let junk = Junk::ALL[self.rng.below(Junk::ALL.len())];
        let user = self.any_user();
        let refused = Arc::clone(&self.refused);
        // Every attempt (a 429 is retried) sends the same request: same padding, same token.
        let seed = self.rng.next_u64();
        self.call(junk.class(), junk.well_formed(), &[junk.expected_status()], |s| {
            junk.request(s, &refused, &user, &mut Rng::new(seed))
        })
        .await;
    }

    /// Reads back everything the ledger holds: live resources as last written, deleted ones
    /// gone (404), and the list totals. These requests are outside the budget.
    pub async fn read_back(mut self) -> Self {
        let until = Instant::now() + READ_BACK_WITHIN;
        let users: Vec<String> = self.ledger.users.keys().cloned().collect();
        let groups: Vec<String> = self.ledger.groups.keys().cloned().collect();
        for id in &users {
            self.check_user(id, "read-back GET").await;
        }
        for id in &groups {
            self.check_group(id, "read-back GET").await;
        }
        let gone: Vec<String> = self
            .ledger
            .deleted_users
            .iter()
            .map(|id| format!("/Users/{id}"))
            .chain(
                self.ledger
                    .deleted_groups
                    .iter()
                    .map(|id| format!("/Groups/{id}")),
            )
            .collect();
        for path in &gone {
            if Instant::now() >= until {
                self.tally.fail(format!(
                    "[{}] the read-back did not finish within {READ_BACK_WITHIN:?}",
                    self.tenant
                ));
                break;
            }
            // Any answer but 404 is a failure, which `call` records.
            self.call("read-back GET deleted", true, &[404], |s| {
                s.request(Method::GET, path)
            })
            .await;
        }
        self.check_total("/Users", "read-back list").await;
        self.check_total("/Groups", "read-back list").await;
        self
    }

    /// Sends a request built by `make` (rebuilt for each attempt), waits out 429s as their
    /// Retry-After says (RFC 6585 §4), and records everything in the tally. A 5xx, or no answer
    /// to a `well_formed` request, is a failure; a status outside `expected` is one too.
    async fn call(
        &mut self,
        class: &'static str,
        well_formed: bool,
        expected: &[u16],
        make: impl Fn(&Scim) -> RequestBuilder,
    ) -> Reply {
        for _ in 0..=MAX_THROTTLED {
            let sent = Instant::now();
            match self.scim.exchange(make(&self.scim)).await {
                Ok(answer) => {
                    let status = answer.status.as_u16();
                    self.tally.answered(class, status, sent.elapsed());
                    if status == 429 {
                        tokio::time::sleep(
                            answer
                                .retry_after
                                .unwrap_or(Duration::from_secs(1))
                                .min(LONGEST_WAIT),
                        )
                        .await;
                        continue;
                    }
                    if expected.contains(&status) {
                        return Reply::Expected(answer);
                    }
                    self.tally.fail(format!(
                        "[{}] {class}: expected {expected:?}, got {}",
                        self.tenant,
                        answer.describe()
                    ));
                    return if answer.status.is_server_error() {
                        Reply::Unknown
                    } else {
                        Reply::Refused
                    };
                }
                Err(e) => {
                    self.tally.unanswered(class, e.reset, sent.elapsed());
                    if well_formed {
                        self.tally
                            .fail(format!("[{}] {class}: no answer: {}", self.tenant, e.message));
                    }
                    return Reply::Unknown;
                }
            }
        }
        self.tally.fail(format!(
            "[{}] {class}: still 429 after {MAX_THROTTLED} waits",
            self.tenant
        ));
        Reply::Unknown
    }

    /// The id of a random live user (the tenant always has some: `pick` creates them first).
    fn any_user(&mut self) -> String {
        let n = self.ledger.users.len().max(1);
        let k = self.rng.below(n);
        self.ledger.users.keys().nth(k).cloned().unwrap_or_default()
    }

    fn any_group(&mut self) -> String {
        let n = self.ledger.groups.len().max(1);
        let k = self.rng.below(n);
        self.ledger.groups.keys().nth(k).cloned().unwrap_or_default()
    }

    /// Up to `n` distinct random live users.
    fn some_users(&mut self, n: usize) -> Vec<String> {
        let picked: BTreeSet<String> = (0..n)
            .map(|_| self.any_user())
            .filter(|id| !id.is_empty())
            .collect();
        picked.into_iter().collect()
    }
}

/// The body as JSON, or `null` when it is not (then every comparison reports it).
fn json(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}
